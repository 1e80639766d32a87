-- Communications per customer, day, channel and direction: the base of engagement trends.
select
    customer_id,
    cast(occurred_at as date) as activity_date,
    channel,
    direction,
    count(*) as communications
from {{ ref('fct_communications') }}
group by all
