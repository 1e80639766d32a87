{#- A word boundary in a regular expression: \b in DuckDB's RE2, \y in PostgreSQL (where \b
    is a backspace). -#}
{% macro word_boundary() -%}
    {{ return(adapter.dispatch('word_boundary')()) }}
{%- endmacro %}

{% macro duckdb__word_boundary() -%}
    {{ return('\\b') }}
{%- endmacro %}

{% macro default__word_boundary() -%}
    {{ return('\\y') }}
{%- endmacro %}
