{#- The distinct values of `column` in one list (DuckDB) or array (PostgreSQL), sorted. -#}
{% macro distinct_list(column) -%}
    {{ return(adapter.dispatch('distinct_list')(column)) }}
{%- endmacro %}

{% macro duckdb__distinct_list(column) -%}
    list(distinct {{ column }} order by {{ column }})
{%- endmacro %}

{% macro default__distinct_list(column) -%}
    array_agg(distinct {{ column }} order by {{ column }})
{%- endmacro %}
