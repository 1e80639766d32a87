{#- A salted SHA-256 (lower-case hex) of a normalised identifier, so marts can join on e-mail
    or phone without holding them. The salt is a session setting made by the connection,
    never compiled into SQL: a DuckDB variable set by profiles.yml, a PostgreSQL custom
    setting (crm.hash_salt) passed in the connection's options (PGOPTIONS, see transform.py).
    The same salt gives the same hashes on both. -#}
{% macro salted_hash(expression) -%}
    {{ return(adapter.dispatch('salted_hash')(expression)) }}
{%- endmacro %}

{% macro duckdb__salted_hash(expression) -%}
    case when nullif(trim({{ expression }}), '') is not null
        then sha256(getvariable('crm_hash_salt') || lower(trim({{ expression }})))
    end
{%- endmacro %}

{% macro default__salted_hash(expression) -%}
    case when nullif(trim({{ expression }}), '') is not null
        then encode(sha256(convert_to(
            current_setting('crm.hash_salt') || lower(trim({{ expression }})), 'UTF8')), 'hex')
    end
{%- endmacro %}
