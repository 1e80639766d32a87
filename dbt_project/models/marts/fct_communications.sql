-- One row per communication across source systems: what the text models score and the
-- follow-up rules read. Incremental: each night merges only rows delivered since the last
-- build (new communications, late ones for older days, and corrected re-deliveries).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['source_system', 'communication_id'],
        on_schema_change='append_new_columns',
    )
}}

with

communications as (

    select * from {{ ref('int_communications__unioned') }}
    {% if is_incremental() %}
    where loaded_at > {{ incremental_watermark('loaded_at') }}
    {% endif %}

),

final as (

    select
        -- ids
        communication_id,
        source_system,
        customer_id,
        agent_id,

        -- categories
        channel,
        direction,
        label,

        -- text, with e-mail addresses and phone numbers redacted
        {{ redact_contact_details('subject') }} as subject,
        {{ redact_contact_details('body') }} as body,

        -- timestamps
        occurred_at,
        loaded_at

    from communications

)

select * from final
