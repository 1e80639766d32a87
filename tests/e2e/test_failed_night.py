"""What on-call sees of a night that fails, really run under Airflow (``dag.test``) as
``make run`` does: the failure notification, each task's log through Airflow's own log reader
(as the UI reads it), the run's wall-clock times, and a task stopped by its timeout."""

from __future__ import annotations

import asyncore
import datetime as dt
import email
import http.server
import json
import queue
import smtpd
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from crm_followups.cli.nightly import NightFailedError, run_nightly
from crm_followups.cli.stack import set_up
from crm_followups.core.names import DAG_ID
from crm_followups.core.settings import Settings

pytestmark = pytest.mark.e2e

CORRUPT_NIGHT = dt.date(2025, 1, 15)  # dates no other test runs: dag.test replaces a date's run
TIMED_OUT_NIGHT = dt.date(2025, 1, 16)
EMAILED_NIGHT = dt.date(2025, 1, 17)
WAIT_SECONDS = 10


@pytest.fixture(scope="module", autouse=True)
def own_data_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A data folder of its own: the first night on an empty inbox writes the bundled sample
    dated for that night, and later modules' nights on the session's folder would find only
    these January 2025 communications (Airflow's metadata DB stays the session's)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CRM_DATA_DIR", str(tmp_path_factory.mktemp("failed-night")))
        yield


class Webhook(http.server.ThreadingHTTPServer):
    """A receiver on a free loopback port: every POSTed JSON body lands in ``received``."""

    def __init__(self) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        super().__init__(("127.0.0.1", 0), WebhookHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/crm"


class WebhookHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.put(json.loads(body))
        self.send_response(204)
        self.end_headers()


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(WAIT_SECONDS)


class Mailbox(smtpd.SMTPServer):
    """An SMTP server on a free loopback port: every message lands in ``received``."""

    def __init__(self) -> None:
        self.channels: dict = {}
        self.received: queue.Queue[tuple[list[str], str]] = queue.Queue()
        super().__init__(("127.0.0.1", 0), None, map=self.channels, decode_data=True)
        self.port = self.socket.getsockname()[1]

    def process_message(self, peer: Any, mailfrom: str, rcpttos: list[str], data: str, **_: Any) -> None:
        self.received.put((rcpttos, data))


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    server, stop = Mailbox(), threading.Event()

    def serve() -> None:
        while not stop.is_set():
            asyncore.loop(timeout=0.1, count=1, map=server.channels)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server
    stop.set()
    thread.join(WAIT_SECONDS)
    server.close()


def _failed_night(date: dt.date) -> tuple[str, dt.datetime, dt.datetime]:
    """Run the night, which must fail; its run id and the wall-clock span around it."""
    before = dt.datetime.now(dt.UTC)
    with pytest.raises(NightFailedError) as failed:
        run_nightly(Settings(), date)
    after = dt.datetime.now(dt.UTC)
    return str(failed.value).split("run ", 1)[1].split(" ended", 1)[0], before, after


@pytest.fixture(scope="module")
def corrupt_night(webhook: Webhook) -> Iterator[tuple[str, dt.datetime, dt.datetime]]:
    """A night whose published warehouse is not a DuckDB file: begin_night fails."""
    settings = Settings()
    set_up(settings)
    published = settings.published_warehouse_path
    kept = published.read_bytes()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CRM_NOTIFY_WEBHOOK_URL", webhook.url)
        published.write_bytes(b"this is not a DuckDB file\n" * 100)
        try:
            yield _failed_night(CORRUPT_NIGHT)
        finally:
            published.write_bytes(kept)


def _task_instances(run_id: str) -> dict[str, Any]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=DAG_ID, run_id=run_id).all()
        session.expunge_all()
    return {ti.task_id: ti for ti in tis}


def _log_events(ti: Any) -> list[Any]:
    """The task's log as the UI's api-server reads it."""
    from airflow.utils.log.log_reader import TaskLogReader

    stream, _ = TaskLogReader().read_log_chunks(ti, ti.try_number, {})
    return list(stream)


def test_a_failed_task_posts_who_failed_and_why_to_the_webhook(corrupt_night, webhook):
    run_id, _, _ = corrupt_night
    message = webhook.received.get(timeout=WAIT_SECONDS)
    error = message.pop("error")  # the exception's type and message, its last line only
    assert error.startswith("_duckdb.IOException: ") and error.endswith("not a valid DuckDB database file!")
    assert message == {"dag_id": DAG_ID, "run_id": run_id, "task_id": "begin_night", "map_index": -1,
                       "try_number": 1, "logical_date": "2025-01-15T00:00:00+00:00"}
    assert webhook.received.empty()  # one failed task, one message; upstream_failed ones send none


def test_every_task_that_ran_has_its_log_readable_as_the_ui_reads_it(corrupt_night):
    run_id, _, _ = corrupt_night
    tis = _task_instances(run_id)
    assert {t for t, ti in tis.items() if ti.try_number} == {"check_config", "check_champions", "begin_night"}
    for task_id in ("check_config", "check_champions", "begin_night"):
        events = _log_events(tis[task_id])
        assert not any("not found" in str(e.event) for e in events), task_id
        assert any(getattr(e, "logger", None) == "task" for e in events), task_id
    failure = next(e for e in _log_events(tis["begin_night"]) if e.event == "Task failed with exception")
    assert failure.error_detail[0]["exc_type"].endswith("Exception")
    assert failure.error_detail[0]["frames"]  # the traceback, for the UI to render


def test_the_run_is_timed_by_the_wall_clock_not_from_its_logical_date(corrupt_night):
    run_id, before, after = corrupt_night
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=DAG_ID, run_id=run_id).one()
        started, ended = run.start_date, run.end_date
    tis = [ti for ti in _task_instances(run_id).values() if ti.start_date]
    assert before <= started <= min(ti.start_date for ti in tis)
    assert max(ti.end_date for ti in tis) <= ended <= after


def test_a_task_past_its_timeout_fails_and_notifies(corrupt_night, webhook, monkeypatch):
    """60 microseconds: check_config (reading the rules file) cannot finish in time."""
    monkeypatch.setenv("CRM_NOTIFY_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("CRM_STEP_TIMEOUT_MINUTES", "0.000001")
    run_id, _, _ = _failed_night(TIMED_OUT_NIGHT)
    message = webhook.received.get(timeout=WAIT_SECONDS)
    assert (message["run_id"], message["task_id"]) == (run_id, "check_config")
    assert message["error"].startswith("airflow.sdk.exceptions.AirflowTaskTimeout")
    assert _task_instances(run_id)["check_config"].state == "failed"


def test_a_failed_task_emails_the_configured_addresses(corrupt_night, mailbox, monkeypatch):
    """Through the provider's SmtpNotifier and the Airflow connection it is configured with."""
    monkeypatch.setenv("CRM_NOTIFY_SMTP_TO", "oncall@example.com, data@example.com")
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": mailbox.port,
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@example.com",
                  "retry_limit": 1, "timeout": WAIT_SECONDS}}))
    monkeypatch.setenv("CRM_STEP_TIMEOUT_MINUTES", "0.000001")  # a quick failure: check_config
    run_id, _, _ = _failed_night(EMAILED_NIGHT)
    recipients, data = mailbox.received.get(timeout=WAIT_SECONDS)
    message = email.message_from_string(data)
    assert sorted(recipients) == ["data@example.com", "oncall@example.com"]
    assert message["Subject"] == "crm_nightly: check_config failed for 2025-01-17"
    body = next(part for part in message.walk() if part.get_content_type() == "text/html")
    assert run_id in body.get_payload(decode=True).decode()
