{#- The first match of a regular expression in `column`: empty text when nothing matches, as
    DuckDB's regexp_extract gives (PostgreSQL's substring gives null). -#}
{% macro first_match(column, pattern) -%}
    {{ return(adapter.dispatch('first_match')(column, pattern)) }}
{%- endmacro %}

{% macro duckdb__first_match(column, pattern) -%}
    regexp_extract({{ column }}, '{{ pattern }}')
{%- endmacro %}

{% macro default__first_match(column, pattern) -%}
    case when {{ column }} is not null
        then coalesce(substring({{ column }} from '{{ pattern }}'), '') end
{%- endmacro %}
