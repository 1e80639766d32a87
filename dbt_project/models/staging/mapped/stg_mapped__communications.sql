-- Communications of exports read through a mapping.yml: already in canonical columns,
-- times in UTC. Ids are unique within one export (_source_system), not across exports.
with

source as (

    select * from {{ source('mapped', 'communications') }}

),

latest_version as (

    -- the latest source modification wins (when the mapping names one); then the later delivery
    {% call deduplicate('source', '_source_system, trim(communication_id)') -%}
        {{ try_cast('updated_at', 'timestamptz') }} desc nulls last,
            _loaded_at desc, _file desc, _row_number desc
    {%- endcall %}

),

renamed as (

    select
        -- ids
        trim(communication_id) as communication_id,
        _source_system as source_system,
        trim(customer_id) as customer_id,
        nullif(trim(agent_id), '') as agent_id,

        -- categories (the mapping translated the export's own values)
        {{ normalise_channel('channel') }} as channel,
        case lower(trim(direction))
            when 'inbound' then 'inbound'
            when 'outbound' then 'outbound'
            else 'internal'
        end as direction,
        nullif(lower(trim(label)), '') as label,

        -- text
        nullif(trim(subject), '') as subject,
        coalesce(body, '') as body,

        -- timestamps
        cast(occurred_at as timestamptz) at time zone 'UTC' as occurred_at,
        _loaded_at as loaded_at

    from latest_version

)

select * from renamed
