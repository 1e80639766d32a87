-- The canonical export's customers as delivered (plain e-mail and phone: staging hashes
-- them), in the column order every base_<source>__customers keeps.
select
    -- ids
    customer_id, owner_id,
    -- attributes, contact details, numerics, flags and times (text, as exported)
    name, company, segment, country, email, phone,
    annual_value, do_not_contact, email_opt_out, created_at, updated_at,
    -- load metadata
    _source_system, _loaded_at, _file, _row_number
from {{ source('generic', 'customers') }}
