"""The follow-up rules (``followup_rules.yml``): the one readable place that says what raises
a follow-up, who owns it and how urgent it is. Steps read them through ``load_rules``."""

from __future__ import annotations

from pathlib import Path

import yaml

RULES_FILE = Path(__file__).with_name("followup_rules.yml")


def load_rules(path: Path = RULES_FILE) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))
