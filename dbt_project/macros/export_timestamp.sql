{#- An exported timestamp (text) as a UTC timestamp: epoch milliseconds (HubSpot's API
    values), ISO 8601 with an offset or Z, or a local time in `timezone` (HubSpot writes
    exports in the exporting user's zone, without offset). -#}
{% macro export_timestamp(column, timezone='UTC') -%}
    {{ return(adapter.dispatch('export_timestamp')(column, timezone)) }}
{%- endmacro %}

{% macro duckdb__export_timestamp(column, timezone) -%}
    case
        when regexp_matches(trim({{ column }}), '^\d{12,13}$')
            then make_timestamp(cast(trim({{ column }}) as bigint) * 1000)
        when regexp_matches(trim({{ column }}), '(Z|[+-]\d\d:?\d\d)$')
            then try_cast(trim({{ column }}) as timestamptz) at time zone 'UTC'
        else try_cast(trim({{ column }}) as timestamp)
            at time zone '{{ timezone }}' at time zone 'UTC'
    end
{%- endmacro %}

{% macro default__export_timestamp(column, timezone) -%}
    case
        when trim({{ column }}) ~ '^\d{12,13}$'
            then cast('1970-01-01' as {{ dbt.type_timestamp() }})
                + cast(trim({{ column }}) as bigint) * interval '1 millisecond'
        when trim({{ column }}) ~ '(Z|[+-]\d\d:?\d\d)$'
            then {{ try_cast('trim(' ~ column ~ ')', 'timestamptz') }} at time zone 'UTC'
        else {{ try_cast('trim(' ~ column ~ ')', 'timestamp') }}
            at time zone '{{ timezone }}' at time zone 'UTC'
    end
{%- endmacro %}
