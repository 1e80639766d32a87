-- How many Salesforce communications have a direction that Salesforce did not record (an
-- e-mail task without its EmailMessage, a call task without CallType): the rule in
-- stg_salesforce__communications chose it. A warning, not an error: the night goes on, and
-- dbt's output counts the rows, so a changed logging setup in the CRM is noticed.
{{ config(severity='warn') }}

select source_system, communication_id, channel, direction
from {{ ref('stg_salesforce__communications') }}
where direction_inferred
