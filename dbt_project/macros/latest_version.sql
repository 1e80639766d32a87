{#- The latest version of each record of `relation` (one per `key`): the latest source
    modification wins (`modified_at`, a timestamp expression; omit it when the export has
    none), then the later delivery (load time, file, row). The one rule for every source. -#}
{% macro latest_version(relation, key, modified_at=none) -%}
    {% call deduplicate(relation, key) -%}
        {% if modified_at %}{{ modified_at }} desc nulls last, {% endif -%}
        _loaded_at desc, _file desc, _row_number desc
    {%- endcall %}
{%- endmacro %}
