"""``followup_rules.yml`` is validated whole when read: a missing queue, a misspelt key or a
wrong type fails with the file and the key path, before anything is built."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crm_followups.core.config_files import ConfigFileError
from crm_followups.followups.rules import RULES_FILE, load_rules


def _rules_with(tmp_path: Path, change) -> Path:
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    change(rules)
    path = tmp_path / "followup_rules.yml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_rules_are_valid() -> None:
    rules = load_rules()
    assert rules.owner_queue["complaint"] == "service"
    assert rules.due_in_days == {1: 0, 2: 1, 3: 3}


def test_a_reason_without_a_queue_fails_naming_it(tmp_path: Path) -> None:
    path = _rules_with(tmp_path, lambda rules: rules["owner_queue"].pop("purchase_intent"))
    with pytest.raises(ConfigFileError, match=rf"{path}: .*owner_queue has no queue for reason\(s\) "
                                              "purchase_intent"):
        load_rules(path)


def test_a_missing_key_names_its_path(tmp_path: Path) -> None:
    path = _rules_with(tmp_path, lambda rules: rules["engagement"].pop("spike_days"))
    with pytest.raises(ConfigFileError, match=f"{path}: engagement.spike_days: Field required"):
        load_rules(path)


def test_a_misspelt_key_lists_the_allowed_ones(tmp_path: Path) -> None:
    path = _rules_with(tmp_path, lambda rules: rules.update(lookback_dayz=rules.pop("lookback_days")))
    with pytest.raises(ConfigFileError) as raised:
        load_rules(path)
    message = str(raised.value)
    assert f"{path}: lookback_dayz: unknown key (allowed here: " in message
    assert f"{path}: lookback_days: Field required" in message


def test_an_unknown_queue_says_what_is_allowed(tmp_path: Path) -> None:
    path = _rules_with(tmp_path, lambda rules: rules["owner_queue"].update(complaint="marketing"))
    with pytest.raises(ConfigFileError, match=f"{path}: owner_queue.complaint: Input should be "
                                              "'sales', 'service' or 'success'"):
        load_rules(path)


def test_an_intents_confidence_threshold_is_a_probability(tmp_path: Path) -> None:
    assert load_rules().intents["complaint"].min_confidence == 0.4
    path = _rules_with(tmp_path, lambda rules: rules["intents"]["complaint"].update(min_confidence=1.5))
    with pytest.raises(ConfigFileError, match=f"{path}: intents.complaint.min_confidence: Input should be "
                                              "less than or equal to 1"):
        load_rules(path)


def test_the_crm_record_url_is_a_template_of_the_customer_id(tmp_path: Path) -> None:
    assert load_rules().crm_record_url == "https://crm.example.com/customers/{customer_id}"
    no_link = _rules_with(tmp_path, lambda rules: rules.update(crm_record_url=""))
    assert load_rules(no_link).crm_record_url == ""
    wrong = [("https://crm.example.com/customers/", r"no other placeholder \(found: none\)"),
             ("https://crm.example.com/{account}/{customer_id}", r"\(found: account, customer_id\)"),
             ("javascript:alert({customer_id})", "must start with https:// or http://"),
             ("https://crm.example.com/{customer_id", "is not a template")]
    for template, why in wrong:
        path = _rules_with(tmp_path, lambda rules, template=template: rules.update(crm_record_url=template))
        with pytest.raises(ConfigFileError, match=f"{path}: crm_record_url: Value error, .*{why}"):
            load_rules(path)
