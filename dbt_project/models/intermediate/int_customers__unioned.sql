-- Customers from every source system in one shape (the columns of stg_generic__customers,
-- which also cleans every mapped export).
{{ union_sources([
    ref('stg_generic__customers'),
    ref('stg_hubspot__customers'),
    ref('stg_salesforce__customers'),
]) }}
