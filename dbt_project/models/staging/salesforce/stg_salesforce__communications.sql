-- Salesforce activities as communications. A task counts when it is a call or an e-mail
-- (a to-do is not a communication); it happened at CompletedDateTime, else CreatedDate
-- (ActivityDate is only its due date). Events are meetings. An EmailMessage logged with a
-- task gives that task its direction and full text. Deleted records are left out.
-- A task records no direction of its own: an e-mail task without an EmailMessage (logged
-- from Outlook/Gmail, Email-to-Salesforce, an import) takes the var
-- `salesforce_email_direction` (default inbound: a customer's request must never be read as
-- our own mail and dropped), a call without CallType is outbound, and both are flagged
-- `direction_inferred` (counted by the warn-level test salesforce_directions_inferred).
with

tasks as (

    select * from {{ source('salesforce', 'task') }}

),

logged_email_messages as (

    select * from {{ source('salesforce', 'emailmessage') }}
    where not {{ export_flag('isdeleted') }} and nullif(trim(activityid), '') is not null

),

email_messages as (

    {{ latest_version('logged_email_messages', 'trim(activityid)',
                      export_timestamp('lastmodifieddate')) }}

),

task_activities as (

    select
        tasks.id, tasks._source_system, tasks.whoid, tasks.ownerid, tasks.subject,
        tasks.isdeleted, tasks.lastmodifieddate, tasks._loaded_at, tasks._file,
        tasks._row_number,
        -- the row changes when its task or its e-mail message is delivered again: incremental
        -- models downstream take it up by this load time
        greatest(tasks._loaded_at, coalesce(email_messages._loaded_at, tasks._loaded_at))
            as _content_loaded_at,
        case
            when lower(trim(tasks.tasksubtype)) = 'call' then 'phone'
            when lower(trim(tasks.tasksubtype)) in ('email', 'listemail') then 'email'
            when coalesce(lower(trim(tasks.tasksubtype)), 'task') in ('task', '')
                and lower(trim(tasks.type)) in ('call', 'email')
                and (lower(trim(tasks.status)) = 'completed'
                    or nullif(trim(tasks.completeddatetime), '') is not null)
                then {{ normalise_channel('tasks.type') }}
        end as channel,
        email_messages.id is not null as has_email_message,
        email_messages.incoming as email_incoming,
        {{ normalise_direction('tasks.calltype', otherwise='unknown') }} as call_direction,
        coalesce(nullif(trim(email_messages.textbody), ''), tasks.description) as body,
        coalesce(nullif(trim(tasks.completeddatetime), ''), tasks.createddate) as occurred
    from tasks
    left join email_messages on trim(email_messages.activityid) = trim(tasks.id)

),

task_directions as (

    select
        id, _source_system, whoid, ownerid, subject, isdeleted, lastmodifieddate,
        _loaded_at, _file, _row_number, _content_loaded_at, channel,
        case
            when has_email_message
                then case when {{ export_flag('email_incoming') }} then 'inbound' else 'outbound' end
            when channel = 'email' then '{{ var("salesforce_email_direction", "inbound") }}'
            when call_direction = 'unknown' then 'outbound'
            else call_direction
        end as direction,
        not has_email_message and (channel = 'email' or call_direction = 'unknown') as direction_inferred,
        body, occurred
    from task_activities

),

events as (

    select
        id, _source_system, whoid, ownerid, subject, isdeleted, lastmodifieddate,
        _loaded_at, _file, _row_number, _loaded_at as _content_loaded_at,
        'meeting' as channel, 'outbound' as direction, false as direction_inferred, description as body,
        coalesce(nullif(trim(startdatetime), ''), nullif(trim(activitydatetime), ''), createddate) as occurred
    from {{ source('salesforce', 'event') }}

),

activities as (

    select * from task_directions where channel is not null
    union all
    select * from events

),

latest_version as (

    {{ latest_version('activities', 'trim(id)', export_timestamp('lastmodifieddate')) }}

),

renamed as (

    select
        -- ids
        trim(id) as communication_id,
        _source_system as source_system,
        trim(whoid) as customer_id,
        nullif(trim(ownerid), '') as agent_id,

        -- categories
        channel,
        direction,
        direction_inferred,
        cast(null as varchar) as label,

        -- text
        nullif(trim(subject), '') as subject,
        coalesce(body, '') as body,

        -- timestamps
        {{ export_timestamp('occurred') }} as occurred_at,
        _content_loaded_at as loaded_at

    from latest_version
    where not {{ export_flag('isdeleted') }}

)

select * from renamed
