{#- An exported flag (true/false, 1/0, yes/no) as a boolean; missing is false. -#}
{% macro export_flag(column) -%}
    coalesce({{ try_cast("nullif(trim(" ~ column ~ "), '')", 'boolean') }}, false)
{%- endmacro %}
