-- Communications from every source system in one shape. Each source's staging model
-- returns the same columns as stg_generic__communications; add new sources to the list.
{{ union_sources([
    ref('stg_generic__communications'),
]) }}
