-- HubSpot contacts as customers, with their company's name, country and revenue.
{%- set tz = var('hubspot_timezone', 'UTC') %}
with

contacts as (

    {{ latest_version(source('hubspot', 'contacts'), 'trim(hs_object_id)',
                      export_timestamp('lastmodifieddate', tz)) }}

),

companies as (

    {{ latest_version(source('hubspot', 'companies'), 'trim(hs_object_id)',
                      export_timestamp('hs_lastmodifieddate', tz)) }}

),

renamed as (

    select
        -- ids
        trim(contacts.hs_object_id) as customer_id,
        contacts._source_system as source_system,
        nullif(trim(contacts.hubspot_owner_id), '') as owner_id,

        -- attributes
        nullif(trim(concat_ws(' ', trim(contacts.firstname), trim(contacts.lastname))), '') as name,
        coalesce(nullif(trim(contacts.company), ''), nullif(trim(companies.name), '')) as company,
        'unknown' as segment,
        nullif(upper(trim(coalesce(nullif(contacts.country, ''), companies.country))), '') as country,

        -- contact details, hashed: marts never hold them in plain text
        {{ salted_hash('contacts.email') }} as email_hash,
        {{ salted_hash("regexp_replace(coalesce(nullif(contacts.phone, ''), contacts.mobilephone), '[^0-9+]', '', 'g')") }} as phone_hash,

        -- numerics and flags
        {{ try_cast('companies.annualrevenue', 'double') }} as annual_value,
        false as do_not_contact,
        {{ export_flag('contacts.hs_email_optout') }} as email_opt_out,

        -- timestamps
        {{ export_timestamp('contacts.createdate', tz) }} as created_at,
        {{ export_timestamp('contacts.lastmodifieddate', tz) }} as updated_at

    from contacts
    left join companies
        on trim({{ first_match('contacts.associatedcompanyid', '[^;,]+') }}) = trim(companies.hs_object_id)

)

select * from renamed
