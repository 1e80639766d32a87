"""The run summary's line for the champion check, for this night's runs and older ones."""

from __future__ import annotations

from crm_followups.delivery.summary import _champions_line


def test_the_champion_line_says_how_many_loaded_and_how_many_were_unchanged() -> None:
    checked = {"versions": {"crm_intent": "2", "crm_sentiment": "1", "crm_topics": None},
               "loaded": ["crm_intent"]}
    assert _champions_line(checked) == ("crm_intent v2, crm_sentiment v1 usable: 1 loaded, "
                                        "1 unchanged since they last loaded")
    assert _champions_line({"versions": dict.fromkeys(checked["versions"]), "loaded": []}) == (
        "no champion yet: tonight trains the first")


def test_a_run_recorded_before_the_loads_were_returned_still_has_its_line() -> None:
    assert _champions_line({"crm_intent": "1", "crm_sentiment": None}) == "crm_intent v1 usable"
