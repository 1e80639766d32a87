{#- Map the ways CRMs name a direction (inbound / in / incoming / HubSpot's incoming_email,
    outbound / out / outgoing, internal) onto the contract's values; anything else, empty
    included, is `otherwise`. -#}
{% macro normalise_direction(column, otherwise='internal') -%}
    case
        when lower(trim({{ column }})) in ('inbound', 'in', 'incoming', 'incoming_email')
            then 'inbound'
        when lower(trim({{ column }})) in ('outbound', 'out', 'outgoing') then 'outbound'
        when lower(trim({{ column }})) = 'internal' then 'internal'
        else '{{ otherwise }}'
    end
{%- endmacro %}
