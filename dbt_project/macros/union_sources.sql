{#- `union all` over relations with the same columns, matched by name (no dbt package needed:
    packages cannot be downloaded here). DuckDB matches them itself (`union all by name`);
    elsewhere the first relation's columns are listed for every relation. -#}
{% macro union_sources(relations) -%}
    {{ return(adapter.dispatch('union_sources')(relations)) }}
{%- endmacro %}

{% macro duckdb__union_sources(relations) -%}
    {%- for relation in relations %}
    select * from {{ relation }}
    {%- if not loop.last %}
    union all by name
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{% macro default__union_sources(relations) -%}
    {#- Columns are known only when dbt executes; at parse time `*` stands in. -#}
    {%- set columns = adapter.get_columns_in_relation(relations[0]) if execute else [] -%}
    {%- set column_list = columns | map(attribute='quoted') | join(', ') if columns else '*' -%}
    {%- for relation in relations %}
    select {{ column_list }} from {{ relation }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
