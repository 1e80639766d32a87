"""Tell on-call that a night failed: Airflow notifiers the DAG's tasks call on failure.

Off by default; ``CRM_NOTIFY_WEBHOOK_URL`` and ``CRM_NOTIFY_SMTP_TO`` switch them on. A message
names the DAG, run, task, date and the error's last line only: no rows, no customer data (an
operator reads the rest with ``crm-followups status`` or the task's log). Imported by the DAG file
at parse time, so it imports nothing heavier than Airflow's task SDK.
"""

from __future__ import annotations

import json
import traceback
import urllib.request
from typing import Any

from airflow.sdk import BaseNotifier

from crm_followups.core.settings import Settings

WEBHOOK_TIMEOUT_SECONDS = 10
EMAIL_SUBJECT = "{{ dag.dag_id }}: {{ ti.task_id }} failed for {{ ds }}"
EMAIL_BODY = ("<p>Task <b>{{ ti.task_id }}</b> of <b>{{ dag.dag_id }}</b> failed in run {{ run_id }} "
              "(logical date {{ ds }}, try {{ ti.try_number }}).</p>"
              "<p>Why: <code>crm-followups status</code>, or the task's log in the Airflow UI.</p>")


def error_last_line(exception: BaseException | None) -> str | None:
    """``Type: message`` of the exception, its last line only: enough to triage, too short to
    carry the rows a message may quote."""
    if exception is None:
        return None
    lines = "".join(traceback.format_exception_only(exception)).strip().splitlines()
    return lines[-1] if lines else type(exception).__name__


def failure_summary(context: Any) -> dict[str, Any]:
    """What failed, from a task's failure context, as the JSON a webhook receives."""
    ti, dag_run = context["ti"], context["dag_run"]
    date = dag_run.logical_date or dag_run.run_after
    return {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "map_index": ti.map_index,
            "try_number": ti.try_number, "logical_date": date.isoformat() if date else None,
            "error": error_last_line(context.get("exception"))}


def post_json(url: str, payload: dict[str, Any], timeout: float) -> None:
    """POST ``payload`` as JSON; a non-2xx answer raises (urllib), naming the URL's status."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout):
        pass


class WebhookNotifier(BaseNotifier):
    """POSTs :func:`failure_summary` to a webhook (a chat incoming hook, an incident tool)."""

    def __init__(self, url: str, timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> None:
        super().__init__()
        self.url = url
        self.timeout = timeout

    def notify(self, context: Any) -> None:
        post_json(self.url, failure_summary(context), self.timeout)


def failure_notifiers(settings: Settings) -> list[BaseNotifier]:
    """The notifiers the settings switch on, to add to the tasks' ``on_failure_callback``."""
    notifiers: list[BaseNotifier] = []
    if settings.notify_webhook_url:
        notifiers.append(WebhookNotifier(settings.notify_webhook_url))
    if recipients := settings.notify_smtp_recipients:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        notifiers.append(SmtpNotifier(to=recipients, smtp_conn_id=settings.notify_smtp_conn_id,
                                      subject=EMAIL_SUBJECT, html_content=EMAIL_BODY))
    return notifiers
