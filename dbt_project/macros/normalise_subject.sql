{#- A subject without reply / forward prefixes (Re:, Fwd:, 回复：, 转发：), lower-case, so a
    reply lands in the thread of the message it answers. -#}
{% macro normalise_subject(column) -%}
    lower(trim(regexp_replace(
        coalesce({{ column }}, ''),
        '^(\s*(re|fw|fwd|aw|答复|回复|转发)\s*[:：]\s*)+', '', 'i'
    )))
{%- endmacro %}
