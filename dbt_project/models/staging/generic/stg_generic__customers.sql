with

source as (

    select * from {{ source('generic', 'customers') }}

),

latest_version as (

    -- the latest source modification wins; on a tie, the later delivery
    {% call deduplicate('source', 'trim(customer_id)') -%}
        {{ try_cast('updated_at', 'timestamptz') }} desc nulls last,
            _loaded_at desc, _file desc, _row_number desc
    {%- endcall %}

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
        coalesce({{ try_cast('do_not_contact', 'boolean') }}, false) as do_not_contact,
        coalesce({{ try_cast('email_opt_out', 'boolean') }}, false) as email_opt_out,

        -- timestamps
        cast(created_at as timestamptz) at time zone 'UTC' as created_at,
        cast(updated_at as timestamptz) at time zone 'UTC' as updated_at

    from latest_version

)

select * from renamed
