{#- The days an incremental daily aggregate must recount: days that received a communication
    since its last build, plus days whose count no longer matches its upstream (a corrected
    re-delivery moved a communication away from them). The second part scans one column of
    the upstream per build, a cheap columnar count, instead of recounting every day.
    `upstream` is the fact table (the defaults) or a finer daily aggregate (pass its day,
    load-time and count expressions). -#}
{% macro days_to_recount(upstream, day='cast(occurred_at as date)', loaded_at='loaded_at',
                         count='count(*)') -%}
    select {{ day }} as activity_date
    from {{ upstream }}
    where {{ loaded_at }} > {{ incremental_watermark('last_loaded_at') }}

    union

    select activity_date
    from (
        select activity_date, sum(communications) as communications
        from {{ this }}
        group by activity_date
    ) as built
    full outer join (
        select {{ day }} as activity_date, {{ count }} as communications
        from {{ upstream }}
        group by 1
    ) as upstream using (activity_date)
    where built.communications is distinct from upstream.communications
{%- endmacro %}
