-- Communications from every source system in one shape. Each source's staging model
-- returns the same columns as stg_generic__communications; add new sources to the list.
{{ union_sources([
    ref('stg_generic__communications'),
    ref('stg_hubspot__communications'),
    ref('stg_salesforce__communications'),
    ref('stg_mapped__communications'),
]) }}
