{#- Map the many ways CRMs spell a channel onto the contract's channel values. -#}
{% macro normalise_channel(column) -%}
    case
        when lower(trim({{ column }})) in ('email', 'e-mail', 'mail') then 'email'
        when lower(trim({{ column }})) in ('phone', 'call', 'voice', 'telephone') then 'phone'
        when lower(trim({{ column }})) in ('chat', 'live chat', 'livechat', 'im', 'whatsapp', 'wechat') then 'chat'
        when lower(trim({{ column }})) in ('sms', 'text') then 'sms'
        when lower(trim({{ column }})) in ('social', 'twitter', 'facebook', 'linkedin', 'weibo') then 'social'
        when lower(trim({{ column }})) in ('meeting', 'visit', 'video') then 'meeting'
        when lower(trim({{ column }})) in ('web', 'web form', 'webform', 'form') then 'web'
        when lower(trim({{ column }})) in ('note', 'notes') then 'note'
        else 'other'
    end
{%- endmacro %}
