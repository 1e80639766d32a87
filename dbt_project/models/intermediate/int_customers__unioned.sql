-- Customers from every source system in one shape (the columns of stg_generic__customers).
{{ union_sources([
    ref('stg_generic__customers'),
    ref('stg_hubspot__customers'),
    ref('stg_salesforce__customers'),
    ref('stg_mapped__customers'),
]) }}
