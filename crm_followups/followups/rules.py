"""The follow-up rules (``followup_rules.yml``): the one readable place that says what raises
a follow-up, who owns it and how urgent it is. Steps read them through ``load_rules``, which
validates the whole file first: a missing key, a misspelt one or a reason without a queue
fails the night at its start, naming the file and the key."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator, model_validator

from crm_followups.core.config_files import StrictModel, load_config_file

RULES_FILE = Path(__file__).with_name("followup_rules.yml")

Queue = Literal["sales", "service", "success"]
Channel = Literal["email", "phone", "chat", "sms", "social", "meeting", "web", "note", "other"]


class Reason(StrictModel):
    reason_code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    reason: str = Field(min_length=1)


class IntentReason(Reason):
    """The reason an intent raises, and the model's probability from which it is acted on: an
    unsure answer waits for the reply time (``unanswered_inbound``) instead of routing a
    message to the wrong team. 0.4 was the model's own threshold before the rules held one."""

    min_confidence: float = Field(default=0.4, ge=0, le=1)


class EngagementRules(StrictModel):
    """The per-customer engagement test (ml.engagement) and the reasons it raises."""

    history_days: PositiveInt
    recent_days: PositiveInt
    spike_days: PositiveInt
    max_false_discovery: float = Field(gt=0, lt=1)
    decline_max_ratio: float = Field(gt=0, lt=1)
    spike_min_ratio: float = Field(gt=1)
    min_earlier_contacts: NonNegativeInt
    min_spike_contacts: NonNegativeInt
    declining: Reason
    spike: Reason
    negative_and_declining: Reason
    latest_messages: PositiveInt

    def test_thresholds(self) -> dict[str, float]:
        """What ``ml.engagement.engagement_changes`` needs, without the reasons."""
        return self.model_dump(exclude={"declining", "spike", "negative_and_declining"})


class ScoreWeights(StrictModel):
    confidence: float = Field(ge=0)
    value: float = Field(ge=0)
    waiting: float = Field(ge=0)


def check_crm_record_url(template: str) -> str:
    """A link template must be an http(s) URL whose only placeholder is ``{customer_id}``: any
    other would fail (or link somewhere else) only when the report is written, and a
    ``javascript:`` link would run in the reader's mail client."""
    if not template:
        return template
    if not template.startswith(("https://", "http://")):
        raise ValueError(f"crm_record_url {template!r} must start with https:// or http://")
    try:
        fields = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as error:
        raise ValueError(f"crm_record_url {template!r} is not a template: {error}") from None
    if fields != {"customer_id"}:
        raise ValueError(f"crm_record_url {template!r} must hold {{customer_id}} and no other "
                         f"placeholder (found: {', '.join(sorted(fields)) or 'none'})")
    return template


class FollowupRules(StrictModel):
    owner_queue: dict[str, Queue]
    intents: dict[str, IntentReason]
    unanswered: Reason
    reply_within_hours: dict[Channel | Literal["default"], PositiveInt]
    lookback_days: PositiveInt
    engagement: EngagementRules
    negative_sentiment_below: float = Field(ge=-1, le=1)
    score_weights: ScoreWeights
    priority_thresholds: tuple[float, float]
    due_in_days: dict[Literal[1, 2, 3], NonNegativeInt]  # by priority
    reply_channel_instead: dict[Channel, Channel]
    email_opt_out_channel: Channel
    # the report links each customer to their CRM record; "" for no link
    crm_record_url: str = ""

    @field_validator("crm_record_url")
    @classmethod
    def _crm_record_url_is_a_template(cls, template: str) -> str:
        return check_crm_record_url(template)

    @model_validator(mode="after")
    def _every_reason_has_a_queue(self) -> FollowupRules:
        engagement = self.engagement
        raised = {r.reason_code for r in (*self.intents.values(), self.unanswered, engagement.declining,
                                          engagement.spike, engagement.negative_and_declining)}
        if missing := sorted(raised - set(self.owner_queue)):
            raise ValueError(f"owner_queue has no queue for reason(s) {', '.join(missing)}: every "
                             "reason the rules raise needs one (sales, service or success)")
        if set(self.due_in_days) != {1, 2, 3}:
            raise ValueError("due_in_days needs days for priorities 1, 2 and 3")
        if "default" not in self.reply_within_hours:
            raise ValueError("reply_within_hours needs a `default` for channels it does not list")
        high, normal = self.priority_thresholds
        if not 0 <= normal <= high <= 1:
            raise ValueError("priority_thresholds: [priority 1 from, priority 2 from], "
                             "with 0 <= the second <= the first <= 1")
        return self


def load_rules(path: Path = RULES_FILE) -> FollowupRules:
    return load_config_file(path, FollowupRules)
