-- Every customer that appears in a customers file or in a communication: a communication
-- whose customer was never exported still has a customer, with unknown attributes. Carries
-- the customer's contact history (first / last contact, totals) for segmentation.
with

customers as (

    select * from {{ ref('int_customers__unioned') }}

),

seen_only_in_communications as (

    select distinct customer_id, source_system
    from {{ ref('int_communications__unioned') }}
    where customer_id not in (select customer_id from customers)

),

all_customers as (

    select
        customer_id, source_system, name, company, segment, country, owner_id,
        annual_value, do_not_contact, email_opt_out, email_hash, phone_hash,
        created_at, updated_at
    from customers

    union all

    select
        customer_id, source_system, null, null, 'unknown', null, null,
        null, false, false, null, null,
        null, null
    from seen_only_in_communications

),

contact_history as (

    select * from {{ ref('int_customers__contact_history') }}

),

final as (

    select
        c.*,
        h.first_contact_at,
        h.last_contact_at,
        h.last_inbound_at,
        h.last_outbound_at,
        coalesce(h.communications_total, 0) as communications_total,
        coalesce(h.inbound_total, 0) as inbound_total
    from all_customers as c
    left join contact_history as h on h.customer_id = c.customer_id

)

select * from final
