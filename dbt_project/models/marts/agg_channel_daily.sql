-- Communications per UTC day, channel and direction, with how many customers they involved:
-- contact volume for capacity planning. Incremental by day, like agg_customer_activity_daily.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_date',
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
        cast(occurred_at as date) as activity_date,
        channel,
        direction,
        count(*) as communications,
        count(distinct customer_id) as customers,
        count(label) as labelled_communications,
        max(loaded_at) as last_loaded_at
    from communications
    group by 1, 2, 3

)

select * from final
