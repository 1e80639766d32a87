with

source as (

    select * from {{ source('generic', 'communications') }}

),

latest_delivery as (

    -- the same record delivered again: the later file wins (no source modification time here)
    {% call deduplicate('source', 'trim(communication_id)') -%}
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

        -- categories
        {{ normalise_channel('channel') }} as channel,
        case lower(trim(direction))
            when 'inbound' then 'inbound'
            when 'in' then 'inbound'
            when 'incoming' then 'inbound'
            when 'outbound' then 'outbound'
            when 'out' then 'outbound'
            when 'outgoing' then 'outbound'
            else 'internal'
        end as direction,
        nullif(lower(trim(label)), '') as label,

        -- text
        nullif(trim(subject), '') as subject,
        coalesce(body, '') as body,

        -- timestamps (no zone in the export means UTC)
        cast(occurred_at as timestamptz) at time zone 'UTC' as occurred_at,
        _loaded_at as loaded_at

    from latest_delivery

)

select * from renamed
