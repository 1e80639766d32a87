-- Every customer that appears in a customers file or in a communication: a communication
-- whose customer was never exported still has a customer, with unknown attributes.
with

customers as (

    select * from {{ ref('int_customers__unioned') }}

),

seen_only_in_communications as (

    select distinct customer_id, source_system
    from {{ ref('int_communications__unioned') }}
    where customer_id not in (select customer_id from customers)

),

final as (

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

)

select * from final
