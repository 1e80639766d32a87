{#- Replace e-mail addresses and phone numbers inside free text (bodies, subjects) so marts,
    and the text models that read them, never hold them. Phone numbers take the shapes CRMs
    see: international (+ then 8-15 digits), an area code in brackets, 3-3/4-4 digit groups,
    a trunk 0 and area code, or a run of 9-15 digits (Chinese mobiles); dates, times,
    prices, versions and short order numbers stay readable. -#}
{% macro redact_contact_details(column) -%}
    {#- Jinja string literals unescape '\\', hence the doubled backslashes. -#}
    {%- set b = word_boundary() -%}
    {%- set phone_shapes = [
        '\+\d(?:[\s().-]{0,2}\d){7,14}',
        '\(\d{2,5}\)\s?\d(?:[\s.-]?\d){5,10}',
        b ~ '\d{3}[\s.-]\d{3,4}[\s.-]\d{4}' ~ b,
        b ~ '0\d{2,4}[\s-]\d{7,8}' ~ b,
        b ~ '\d{9,15}' ~ b,
    ] -%}
    regexp_replace(
        regexp_replace(
            {{ column }},
            '[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}',
            '[email]', 'g'
        ),
        '{{ phone_shapes | join("|") }}',
        '[phone]', 'g'
    )
{%- endmacro %}
