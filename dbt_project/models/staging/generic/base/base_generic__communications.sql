-- The canonical export's communications as delivered, in the column order every
-- base_<source>__communications keeps. The canonical export has no modification time.
select
    -- ids
    communication_id, customer_id, agent_id,
    -- categories, text and times (text, as exported)
    channel, direction, label, subject, body, occurred_at,
    cast(null as {{ dbt.type_string() }}) as updated_at,
    -- load metadata
    _source_system, _loaded_at, _file, _row_number
from {{ source('generic', 'communications') }}
