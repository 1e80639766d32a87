{#- The days an incremental daily aggregate must recount: days that received a communication
    since its last build, plus days whose count no longer matches the fact table (a corrected
    re-delivery moved a communication away from them). The second part scans one column of
    the fact table per build, a cheap columnar count, instead of recounting every day. -#}
{% macro days_to_recount(fact) -%}
    select cast(occurred_at as date) as activity_date
    from {{ fact }}
    where loaded_at > {{ incremental_watermark('last_loaded_at') }}

    union

    select activity_date
    from (
        select activity_date, sum(communications) as communications
        from {{ this }}
        group by activity_date
    ) as built
    full outer join (
        select cast(occurred_at as date) as activity_date, count(*) as communications
        from {{ fact }}
        group by activity_date
    ) as facts using (activity_date)
    where built.communications is distinct from facts.communications
{%- endmacro %}
