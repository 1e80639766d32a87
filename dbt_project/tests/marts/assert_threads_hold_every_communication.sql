-- Every communication belongs to exactly one thread: the threads' message counts add up to
-- the fact table, per customer.
with

facts as (

    select customer_id, count(*) as communications
    from {{ ref('fct_communications') }}
    group by 1

),

threads as (

    select customer_id, sum(messages) as communications
    from {{ ref('fct_threads') }}
    group by 1

)

select
    customer_id,
    f.communications as in_fact,
    t.communications as in_threads
from facts as f
full outer join threads as t using (customer_id)
where f.communications is distinct from t.communications
