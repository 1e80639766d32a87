-- Customers of the exports read through a mapping.yml, already in the canonical columns.
select
    customer_id, owner_id,
    name, company, segment, country, email, phone,
    annual_value, do_not_contact, email_opt_out, created_at, updated_at,
    _source_system, _loaded_at, _file, _row_number
from {{ source('mapped', 'customers') }}
