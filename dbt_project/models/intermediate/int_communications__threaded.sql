-- Every communication with the thread (conversation) it belongs to: the same customer,
-- channel and subject (reply prefixes removed), with no gap of more than seven days between
-- consecutive messages. Set-based sessionisation: a gap opens a thread, a running sum
-- numbers them.
-- A table, not a view: the contact history, fct_threads and their tests read it, and as a view
-- each of them would sort all history again.
{{ config(materialized='table') }}

with

communications as (

    select
        *,
        {{ normalise_subject('subject') }} as subject_key
    from {{ ref('int_communications__unioned') }}

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
        ) as position_in_thread
    from numbered

)

select * from final
