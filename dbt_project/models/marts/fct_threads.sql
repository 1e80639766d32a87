-- One row per thread (conversation): when it started, how fast the first reply came and
-- whether the customer is still waiting for an answer. Incremental per customer, like
-- int_communications__threaded: a late message can join or split a customer's threads, so
-- every thread of a customer it rethreaded is built again and replaces the customer's rows.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['source_system', 'customer_id'],
        on_schema_change='append_new_columns',
        post_hook="{{ delete_customers_without_communications(ref('int_communications__threaded')) }}",
    )
}}

with

messages as (

    select * from {{ ref('int_communications__threaded') }}
    {% if is_incremental() %}
    where (source_system, customer_id) in (
        {{ customers_to_rethread(ref('int_communications__threaded'), watermark='last_loaded_at',
                                 built_count='sum(messages)') }}
    )
    {% endif %}

),

subjects as (

    select source_system, communication_id, subject
    from {{ ref('fct_communications') }}

),

threads as (

    -- source system, customer and channel are the same in all of a thread's messages
    select
        thread_id,
        min(source_system) as source_system,
        min(customer_id) as customer_id,
        min(channel) as channel,
        min(occurred_at) as started_at,
        max(occurred_at) as last_message_at,
        count(*) as messages,
        count(*) filter (where direction = 'inbound') as inbound_messages,
        count(*) filter (where direction = 'outbound') as outbound_messages,
        min(occurred_at) filter (where direction = 'inbound') as first_inbound_at,
        {{ value_at_extreme('direction', ['occurred_at', 'communication_id'], last=true) }}
            as last_direction,
        {{ value_at_extreme('communication_id', ['occurred_at', 'communication_id'], last=false) }}
            as first_communication_id,
        max(loaded_at) as last_loaded_at
    from messages
    group by thread_id

),

first_responses as (

    select
        t.thread_id,
        min(m.occurred_at) as first_response_at
    from threads as t
    inner join messages as m
        on m.thread_id = t.thread_id
        and m.direction = 'outbound'
        and m.occurred_at >= t.first_inbound_at
    group by t.thread_id

),

final as (

    select
        -- ids
        t.thread_id,
        t.source_system,
        t.customer_id,
        t.first_communication_id,

        -- categories and text (already redacted in fct_communications)
        t.channel,
        s.subject,

        -- counts
        t.messages,
        t.inbound_messages,
        t.outbound_messages,

        -- timestamps and response time
        t.started_at,
        t.last_message_at,
        t.first_inbound_at,
        r.first_response_at,
        {{ dbt.datediff('t.first_inbound_at', 'r.first_response_at', 'minute') }}
            as first_response_minutes,
        t.last_direction = 'inbound' as is_awaiting_reply,

        -- load time, the incremental build's watermark
        t.last_loaded_at

    from threads as t
    left join first_responses as r on r.thread_id = t.thread_id
    left join subjects as s
        on s.source_system = t.source_system
        and s.communication_id = t.first_communication_id

)

select * from final
