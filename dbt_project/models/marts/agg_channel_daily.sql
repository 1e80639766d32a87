-- Communications per UTC day, channel and direction, with how many customers they involved:
-- contact volume for capacity planning. The exact roll-up of agg_customer_activity_daily
-- (one row there per customer, day, channel and direction), incremental by day like it: a
-- day it recounted since this model's last build is rolled up again.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_date',
    )
}}

with

customer_days as (

    select * from {{ ref('agg_customer_activity_daily') }}
    {% if is_incremental() %}
    where activity_date in ({{ days_to_recount(ref('agg_customer_activity_daily'),
        day='activity_date', loaded_at='last_loaded_at', count='sum(communications)') }})
    {% endif %}

),

final as (

    select
        activity_date,
        channel,
        direction,
        cast(sum(communications) as {{ dbt.type_bigint() }}) as communications,
        count(distinct customer_id) as customers,
        cast(sum(labelled_communications) as {{ dbt.type_bigint() }}) as labelled_communications,
        max(last_loaded_at) as last_loaded_at
    from customer_days
    group by 1, 2, 3

)

select * from final
