{#- A salted SHA-256 of a normalised identifier, so marts can join on e-mail or phone without
    holding them. The salt is a session variable set by profiles.yml, never compiled into SQL. -#}
{% macro salted_hash(expression) -%}
    case when nullif(trim({{ expression }}), '') is not null
        then sha256(getvariable('crm_hash_salt') || lower(trim({{ expression }})))
    end
{%- endmacro %}
