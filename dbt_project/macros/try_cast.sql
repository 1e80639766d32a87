{#- Text exported by a CRM as `type` (double, boolean, timestamp, timestamptz), or null when
    it is not one: DuckDB's try_cast. PostgreSQL has no safe cast (dbt.safe_cast is a plain
    cast there), so the text is cast only when it has the shape the type reads: the values
    DuckDB accepts for booleans, decimal numbers, ISO 8601 timestamps. -#}
{% macro try_cast(expression, type) -%}
    {{ return(adapter.dispatch('try_cast')(expression, type)) }}
{%- endmacro %}

{% macro duckdb__try_cast(expression, type) -%}
    try_cast({{ expression }} as {{ type }})
{%- endmacro %}

{% macro default__try_cast(expression, type) -%}
    {%- set shapes = {
        'double': "^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$",
        'timestamp': "^\s*\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d(\.\d+)?)?)?\s*(Z|[+-]\d\d(:?\d\d)?)?\s*$",
        'timestamptz': "^\s*\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d(\.\d+)?)?)?\s*(Z|[+-]\d\d(:?\d\d)?)?\s*$",
    } -%}
    {%- set types = {'double': dbt.type_float(), 'timestamp': dbt.type_timestamp(),
                     'timestamptz': 'timestamptz', 'boolean': dbt.type_boolean()} -%}
    {%- if type == 'boolean' -%}
    case when lower({{ expression }}) in ('true', 'false', 't', 'f', '1', '0', 'yes', 'no', 'y', 'n')
        then cast({{ expression }} as {{ types[type] }}) end
    {%- elif type in shapes -%}
    case when {{ expression }} ~ '{{ shapes[type] }}'
        then cast({{ expression }} as {{ types[type] }}) end
    {%- else -%}
    {{ exceptions.raise_compiler_error("try_cast: no safe cast to " ~ type ~ " on " ~ target.type) }}
    {%- endif -%}
{%- endmacro %}
