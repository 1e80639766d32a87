{#- The customers whose threads an incremental build must compute again (a select of
    source_system, customer_id): customers with a communication loaded since its last build,
    plus customers whose message count no longer matches the upstream (a corrected
    re-delivery moved a communication to another customer). The second part is a count per
    customer over the upstream, cheap next to threading all history. -#}
{% macro customers_to_rethread(upstream, loaded_at='loaded_at', watermark='loaded_at',
                               built_count='count(*)') -%}
    select source_system, customer_id
    from {{ upstream }}
    where {{ loaded_at }} > {{ incremental_watermark(watermark) }}

    union

    select source_system, customer_id
    from (
        select source_system, customer_id, {{ built_count }} as messages
        from {{ this }}
        group by source_system, customer_id
    ) as built
    full outer join (
        select source_system, customer_id, count(*) as messages
        from {{ upstream }}
        group by source_system, customer_id
    ) as upstream using (source_system, customer_id)
    where built.messages is distinct from upstream.messages
{%- endmacro %}
