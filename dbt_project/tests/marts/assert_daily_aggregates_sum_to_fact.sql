-- Both daily aggregates count every communication of the fact table once, day by day and
-- channel by channel. Returns the days and channels where a count disagrees.
with

facts as (

    select cast(occurred_at as date) as activity_date, channel, count(*) as communications
    from {{ ref('fct_communications') }}
    group by 1, 2

),

per_customer as (

    select activity_date, channel, sum(communications) as communications
    from {{ ref('agg_customer_activity_daily') }}
    group by 1, 2

),

per_channel as (

    select activity_date, channel, sum(communications) as communications
    from {{ ref('agg_channel_daily') }}
    group by 1, 2

)

select
    coalesce(f.activity_date, c.activity_date, h.activity_date) as activity_date,
    coalesce(f.channel, c.channel, h.channel) as channel,
    f.communications as in_fact,
    c.communications as in_customer_activity,
    h.communications as in_channel_daily
from facts as f
full outer join per_customer as c using (activity_date, channel)
full outer join per_channel as h using (activity_date, channel)
where f.communications is distinct from c.communications
    or f.communications is distinct from h.communications
