{#- Post-hook of the models rebuilt per customer: delete the rows of customers who have no
    communication left upstream (a correction moved their last one away), which
    delete+insert alone would keep, having no new rows to replace them with. -#}
{% macro delete_customers_without_communications(upstream) -%}
    delete from {{ this }} as built
    where not exists (
        select 1 from {{ upstream }} as upstream
        where upstream.source_system = built.source_system
            and upstream.customer_id = built.customer_id
    )
{%- endmacro %}
