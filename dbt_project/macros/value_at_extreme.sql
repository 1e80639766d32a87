{#- `value` of the group's row that comes last (arg_max) or first (arg_min) in the order of
    `order_columns` (a list): DuckDB's arg_max over a struct; elsewhere the head of an
    ordered array. -#}
{% macro value_at_extreme(value, order_columns, last) -%}
    {{ return(adapter.dispatch('value_at_extreme')(value, order_columns, last)) }}
{%- endmacro %}

{% macro duckdb__value_at_extreme(value, order_columns, last) -%}
    {{ 'arg_max' if last else 'arg_min' }}({{ value }}, ({{ order_columns | join(', ') }}))
{%- endmacro %}

{% macro default__value_at_extreme(value, order_columns, last) -%}
    {%- set direction = ' desc' if last else '' -%}
    (array_agg({{ value }} order by {{ order_columns | join(direction ~ ', ') }}{{ direction }}))[1]
{%- endmacro %}
