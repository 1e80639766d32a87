{#- The latest load time already in this incremental model: rows loaded after it are new or
    re-delivered. Before the first build (or on --full-refresh), and in a table built before
    the model had the column (append_new_columns adds it only after this build's select),
    every row counts. -#}
{% macro incremental_watermark(column) -%}
    {%- set built_columns = adapter.get_columns_in_relation(this) | map(attribute='name')
                            | map('lower') | list if execute else [column | lower] -%}
    {%- if column | lower in built_columns -%}
    (select coalesce(max({{ column }}), cast('-infinity' as timestamptz)) from {{ this }})
    {%- else -%}
    cast('-infinity' as timestamptz)
    {%- endif -%}
{%- endmacro %}
