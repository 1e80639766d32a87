-- HubSpot engagements as communications: calls, e-mails, meetings, notes, and tasks that
-- were a completed call or e-mail (a to-do is not a communication).
{%- set tz = var('hubspot_timezone', 'UTC') %}
{#- what every engagement type has, so the types stack in one union -#}
{%- set engagement = 'hs_object_id, _source_system, associated_contact_ids, hubspot_owner_id,
        hs_lastmodifieddate, _loaded_at, _file, _row_number' %}
with

calls as (

    select {{ engagement }},
        'phone' as channel, lower(hs_call_direction) as direction,
        hs_call_title as subject, hs_call_body as body, hs_timestamp as occurred
    from {{ source('hubspot', 'calls') }}

),

emails as (

    select {{ engagement }},
        'email' as channel,
        case when upper(trim(hs_email_direction)) = 'INCOMING_EMAIL' then 'inbound'
            else 'outbound' end as direction,
        hs_email_subject as subject, hs_email_text as body, hs_timestamp as occurred
    from {{ source('hubspot', 'emails') }}

),

meetings as (

    select {{ engagement }},
        'meeting' as channel, 'outbound' as direction,
        hs_meeting_title as subject, hs_meeting_body as body,
        coalesce(nullif(trim(hs_meeting_start_time), ''), hs_timestamp) as occurred
    from {{ source('hubspot', 'meetings') }}

),

notes as (

    select {{ engagement }},
        'note' as channel, 'internal' as direction,
        cast(null as varchar) as subject, hs_note_body as body, hs_timestamp as occurred
    from {{ source('hubspot', 'notes') }}

),

tasks as (

    select {{ engagement }},
        lower(trim(hs_task_type)) as channel, 'outbound' as direction,
        hs_task_subject as subject, hs_task_body as body,
        coalesce(nullif(trim(hs_task_completion_date), ''), hs_timestamp) as occurred
    from {{ source('hubspot', 'tasks') }}
    where upper(trim(hs_task_type)) in ('CALL', 'EMAIL')
        and upper(trim(hs_task_status)) = 'COMPLETED'

),

engagements as (

    select * from calls
    union all select * from emails
    union all select * from meetings
    union all select * from notes
    union all select * from tasks

),

latest_version as (

    -- the latest HubSpot modification wins; on a tie, the later delivery
    {{ latest_version('engagements', 'trim(hs_object_id)',
                      export_timestamp('hs_lastmodifieddate', tz)) }}

),

renamed as (

    select
        -- ids (an engagement may name several contacts: the first is the customer)
        trim(hs_object_id) as communication_id,
        _source_system as source_system,
        trim({{ first_match('associated_contact_ids', '[^;,]+') }}) as customer_id,
        nullif(trim(hubspot_owner_id), '') as agent_id,

        -- categories
        {{ normalise_channel('channel') }} as channel,
        {{ normalise_direction('direction') }} as direction,
        cast(null as varchar) as label,

        -- text (HubSpot keeps e-mail and note bodies as HTML)
        nullif(trim(subject), '') as subject,
        trim(regexp_replace(coalesce(body, ''), '<[^>]+>', ' ', 'g')) as body,

        -- timestamps
        {{ export_timestamp('occurred', tz) }} as occurred_at,
        _loaded_at as loaded_at

    from latest_version

)

select * from renamed
