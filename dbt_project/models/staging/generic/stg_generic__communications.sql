-- Communications of every export in the canonical columns: the canonical export itself and
-- the exports read through a mapping.yml, each through its thin base_<source>__ model, all
-- cleaned by this one model. Ids are unique within one export (source_system).
with

delivered as (

    {{ union_sources([
        ref('base_generic__communications'),
        ref('base_mapped__communications'),
    ]) }}

),

latest_version as (

    -- the latest source modification wins (when the export has one); then the later delivery
    {{ latest_version('delivered', '_source_system, trim(communication_id)',
                      try_cast("nullif(trim(updated_at), '')", 'timestamptz')) }}

),

renamed as (

    select
        -- ids
        trim(communication_id) as communication_id,
        _source_system as source_system,
        trim(customer_id) as customer_id,
        nullif(trim(agent_id), '') as agent_id,

        -- categories
        {{ normalise_channel('channel') }} as channel,
        {{ normalise_direction('direction') }} as direction,
        -- the CRM's own disposition, as exported: intents are answered in its vocabulary
        nullif(trim(label), '') as label,

        -- text
        nullif(trim(subject), '') as subject,
        coalesce(body, '') as body,

        -- timestamps (no zone in the export means UTC)
        cast(occurred_at as timestamptz) at time zone 'UTC' as occurred_at,
        _loaded_at as loaded_at

    from latest_version

)

select * from renamed
