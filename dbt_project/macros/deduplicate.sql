{#- The first row of each `partition_by` group in the order the call block gives: the
    latest version of a record. DuckDB filters the window with `qualify`; elsewhere a window subquery does, and
    its rank column (_version_rank) stays beside the relation's columns. -#}
{% macro deduplicate(relation, partition_by) -%}
    {{ return(adapter.dispatch('deduplicate')(relation, partition_by, caller())) }}
{%- endmacro %}

{% macro duckdb__deduplicate(relation, partition_by, order_by) -%}
    select * from {{ relation }}
    qualify row_number() over (
        partition by {{ partition_by }}
        order by {{ order_by }}
    ) = 1
{%- endmacro %}

{% macro default__deduplicate(relation, partition_by, order_by) -%}
    select * from (
        select *, row_number() over (
            partition by {{ partition_by }}
            order by {{ order_by }}
        ) as _version_rank
        from {{ relation }}
    ) as versions
    where _version_rank = 1
{%- endmacro %}
