{#- Write exactly the schemas the warehouse contract names (staging, marts), not main_staging. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
