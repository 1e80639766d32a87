-- Communications of the exports read through a mapping.yml: the extract already named
-- their columns canonically (times as UTC text); updated_at when the mapping names one.
select
    communication_id, customer_id, agent_id,
    channel, direction, label, subject, body, occurred_at,
    updated_at,
    _source_system, _loaded_at, _file, _row_number
from {{ source('mapped', 'communications') }}
