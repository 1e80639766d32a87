-- Every communication staged from any source is in fct_communications exactly once, and
-- the fact table holds nothing that was not staged. Returns the offending keys.
with

staged as (

    select source_system, communication_id
    from {{ ref('int_communications__unioned') }}

),

facts as (

    select source_system, communication_id, count(*) as copies
    from {{ ref('fct_communications') }}
    group by 1, 2

)

select
    coalesce(s.source_system, f.source_system) as source_system,
    coalesce(s.communication_id, f.communication_id) as communication_id,
    coalesce(f.copies, 0) as copies_in_fact,
    s.communication_id is not null as is_staged
from staged as s
full outer join facts as f
    on f.source_system = s.source_system
    and f.communication_id = s.communication_id
where f.copies is distinct from 1 or s.communication_id is null
