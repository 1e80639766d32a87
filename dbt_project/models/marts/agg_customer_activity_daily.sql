-- Communications per customer, UTC day, channel and direction: the base of engagement
-- trends. Incremental by day: every day that received a communication since the last build
-- (late files included) or lost one to a correction is recounted in full from the fact table
-- and replaces its old rows.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_date',
        on_schema_change='append_new_columns',
    )
}}

with

communications as (

    select * from {{ ref('fct_communications') }}
    {% if is_incremental() %}
    where cast(occurred_at as date) in ({{ days_to_recount(ref('fct_communications')) }})
    {% endif %}

),

final as (

    select
        customer_id,
        cast(occurred_at as date) as activity_date,
        channel,
        direction,
        count(*) as communications,
        max(loaded_at) as last_loaded_at,
        -- last, where append_new_columns put it in warehouses built before it existed
        count(label) as labelled_communications
    from communications
    group by 1, 2, 3, 4

)

select * from final
