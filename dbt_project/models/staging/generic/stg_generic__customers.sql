-- Customers of every export in the canonical columns (the canonical export and the exports
-- read through a mapping.yml), cleaned by this one model. E-mail and phone become salted
-- hashes here, so nothing downstream of raw holds them.
with

delivered as (

    {{ union_sources([
        ref('base_generic__customers'),
        ref('base_mapped__customers'),
    ]) }}

),

latest_version as (

    -- the latest source modification wins; on a tie, the later delivery
    {{ latest_version('delivered', '_source_system, trim(customer_id)',
                      try_cast("nullif(trim(updated_at), '')", 'timestamptz')) }}

),

renamed as (

    select
        -- ids
        trim(customer_id) as customer_id,
        _source_system as source_system,
        nullif(trim(owner_id), '') as owner_id,

        -- attributes
        nullif(trim(name), '') as name,
        nullif(trim(company), '') as company,
        coalesce(nullif(lower(trim(segment)), ''), 'unknown') as segment,
        nullif(upper(trim(country)), '') as country,

        -- contact details, hashed: marts never hold them in plain text
        {{ salted_hash('email') }} as email_hash,
        {{ salted_hash("regexp_replace(phone, '[^0-9+]', '', 'g')") }} as phone_hash,

        -- numerics and flags
        {{ try_cast('annual_value', 'double') }} as annual_value,
        {{ export_flag('do_not_contact') }} as do_not_contact,
        {{ export_flag('email_opt_out') }} as email_opt_out,

        -- timestamps
        cast(nullif(trim(created_at), '') as timestamptz) at time zone 'UTC' as created_at,
        cast(nullif(trim(updated_at), '') as timestamptz) at time zone 'UTC' as updated_at

    from latest_version

)

select * from renamed
