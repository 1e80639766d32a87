-- Salesforce contacts and leads (the WhoId of an activity is one or the other) as
-- customers; a contact's company comes from its Account. DoNotCall is taken as do-not-
-- contact (the marts have no phone-only opt-out), HasOptedOutOfEmail as e-mail opt-out.
with

accounts as (

    {{ latest_version(source('salesforce', 'account'), 'trim(id)',
                      export_timestamp('lastmodifieddate')) }}

),

contacts as (

    select
        contacts.id, contacts._source_system, contacts.ownerid, contacts.firstname,
        contacts.lastname, contacts.email, contacts.phone, contacts.mobilephone,
        accounts.name as company, accounts.type as account_type, accounts.annualrevenue,
        coalesce(nullif(contacts.mailingcountrycode, ''), nullif(contacts.mailingcountry, ''),
            nullif(accounts.billingcountrycode, '')) as country,
        contacts.donotcall, contacts.hasoptedoutofemail, contacts.isdeleted,
        contacts.createddate, contacts.lastmodifieddate,
        contacts._loaded_at, contacts._file, contacts._row_number
    from {{ source('salesforce', 'contact') }} as contacts
    left join accounts on trim(accounts.id) = trim(contacts.accountid)

),

leads as (

    select
        id, _source_system, ownerid, firstname, lastname, email, phone, null as mobilephone,
        company, null as account_type, annualrevenue,
        coalesce(nullif(countrycode, ''), nullif(country, '')) as country,
        donotcall, hasoptedoutofemail, isdeleted, createddate, lastmodifieddate,
        _loaded_at, _file, _row_number
    from {{ source('salesforce', 'lead') }}

),

people as (

    -- the same columns in the same order
    select * from contacts
    union all
    select * from leads

),

latest_version as (

    {{ latest_version('people', 'trim(id)', export_timestamp('lastmodifieddate')) }}

),

renamed as (

    select
        -- ids
        trim(id) as customer_id,
        _source_system as source_system,
        nullif(trim(ownerid), '') as owner_id,

        -- attributes
        nullif(trim(concat_ws(' ', trim(firstname), trim(lastname))), '') as name,
        nullif(trim(company), '') as company,
        coalesce(nullif(lower(trim(account_type)), ''), 'unknown') as segment,
        nullif(upper(trim(country)), '') as country,

        -- contact details, hashed: marts never hold them in plain text
        {{ salted_hash('email') }} as email_hash,
        {{ salted_hash("regexp_replace(coalesce(nullif(phone, ''), mobilephone), '[^0-9+]', '', 'g')") }} as phone_hash,

        -- numerics and flags
        {{ try_cast('annualrevenue', 'double') }} as annual_value,
        {{ export_flag('donotcall') }} as do_not_contact,
        {{ export_flag('hasoptedoutofemail') }} as email_opt_out,

        -- timestamps
        {{ export_timestamp('createddate') }} as created_at,
        {{ export_timestamp('lastmodifieddate') }} as updated_at

    from latest_version
    where not {{ export_flag('isdeleted') }}

)

select * from renamed
