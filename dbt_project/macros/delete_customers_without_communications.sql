{#- Post-hook of the models rebuilt per customer: delete the rows of customers who have no
    communication left upstream (a correction moved their last one away), which
    delete+insert alone would keep, having no new rows to replace them with. -#}
{% macro delete_customers_without_communications(upstream) -%}
    delete from {{ this }}
    where (source_system, customer_id) not in (
        select source_system, customer_id from {{ upstream }}
    )
{%- endmacro %}
