{#- `union all by name` over relations with the same columns (no dbt package needed:
    packages cannot be downloaded here). -#}
{% macro union_sources(relations) -%}
    {%- for relation in relations %}
    select * from {{ relation }}
    {%- if not loop.last %}
    union all by name
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
