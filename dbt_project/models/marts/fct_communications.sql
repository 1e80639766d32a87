-- One row per communication across source systems: what the text models score and the
-- follow-up rules read.
with

communications as (

    select * from {{ ref('int_communications__unioned') }}

),

final as (

    select
        communication_id,
        source_system,
        customer_id,
        channel,
        direction,
        occurred_at,
        subject,
        body,
        agent_id,
        label
    from communications

)

select * from final
