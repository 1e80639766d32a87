-- Each customer's contact history in one row: first and last contact, last message in
-- each direction, and how much contact there has been, across all source systems.
with

communications as (

    select * from {{ ref('int_communications__threaded') }}

),

final as (

    select
        customer_id,
        min(occurred_at) as first_contact_at,
        max(occurred_at) as last_contact_at,
        max(occurred_at) filter (where direction = 'inbound') as last_inbound_at,
        max(occurred_at) filter (where direction = 'outbound') as last_outbound_at,
        count(*) as communications_total,
        count(*) filter (where direction = 'inbound') as inbound_total,
        count(distinct thread_id) as threads_total,
        {{ distinct_list('channel') }} as channels_used
    from communications
    group by customer_id

)

select * from final
