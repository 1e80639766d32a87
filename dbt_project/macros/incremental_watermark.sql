{#- The latest load time already in this incremental model: rows loaded after it are new or
    re-delivered. Before the first build (or on --full-refresh) every row counts. -#}
{% macro incremental_watermark(column) -%}
    (select coalesce(max({{ column }}), cast('-infinity' as timestamptz)) from {{ this }})
{%- endmacro %}
