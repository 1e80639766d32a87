-- Every communication with the thread (conversation) it belongs to: the same customer,
-- channel and subject (reply prefixes removed), with no gap of more than seven days between
-- consecutive messages. Set-based sessionisation: a gap opens a thread, a running sum
-- numbers them.
-- Incremental per customer: threads never span customers, so a build computes again only the
-- threads of the customers in customers_to_rethread (new, late or moved communications) and
-- replaces their rows; contact history, fct_threads and their tests read this table.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['source_system', 'customer_id'],
        on_schema_change='append_new_columns',
        post_hook="{{ delete_customers_without_communications(ref('int_communications__unioned')) }}",
    )
}}

with

communications as (

    select
        *,
        {{ normalise_subject('subject') }} as subject_key
    from {{ ref('int_communications__unioned') }}
    {% if is_incremental() %}
    where (source_system, customer_id) in (
        {{ customers_to_rethread(ref('int_communications__unioned')) }}
    )
    {% endif %}

),

gaps as (

    select
        *,
        coalesce(
            occurred_at > {{ dbt.dateadd('day', 7, 'lag(occurred_at) over conversation') }},
            true
        ) as opens_thread
    from communications
    window conversation as (
        partition by source_system, customer_id, channel, subject_key
        order by occurred_at, communication_id
    )

),

numbered as (

    select
        *,
        sum(cast(opens_thread as integer)) over (
            partition by source_system, customer_id, channel, subject_key
            order by occurred_at, communication_id
            rows between unbounded preceding and current row
        ) as thread_number
    from gaps

),

final as (

    select
        communication_id,
        source_system,
        customer_id,
        channel,
        direction,
        occurred_at,
        {{ dbt.hash("concat_ws('|', source_system, customer_id, channel, subject_key,
                               thread_number)") }} as thread_id,
        row_number() over (
            partition by source_system, customer_id, channel, subject_key, thread_number
            order by occurred_at, communication_id
        ) as position_in_thread,
        loaded_at
    from numbered

)

select * from final
