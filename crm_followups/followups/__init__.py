"""Follow-ups: the rules users edit (``rules``, ``followup_rules.yml``) and the set-based
build of the day's ranked list (``build``)."""
