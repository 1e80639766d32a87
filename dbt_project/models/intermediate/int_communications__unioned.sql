-- Communications from every source system in one shape. Each staging model returns the
-- columns of stg_generic__communications (which also cleans every mapped export); a new
-- CRM's staging model joins the list.
{{ union_sources([
    ref('stg_generic__communications'),
    ref('stg_hubspot__communications'),
    ref('stg_salesforce__communications'),
]) }}
