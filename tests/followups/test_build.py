"""Follow-up scenarios on top of the bundled sample, through the real pipeline steps.

Extra scenario rows go into the generic export folder as their own CSV files, which the
extract step loads like any export; then dbt builds, the intent model trains and scores,
trends and follow-ups run, all against a real DuckDB file and MLflow store. Each scenario
customer (``S...``) is built to raise exactly one kind of follow-up, or none.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from crm_followups.core.names import TRENDS_EXPERIMENT
from crm_followups.core.settings import Settings
from crm_followups.delivery.publish import publish_followups
from crm_followups.extract.load import load_exports
from crm_followups.followups.build import build_followups
from crm_followups.followups.rules import RULES_FILE, FollowupRules, load_rules
from crm_followups.sample.generate import write_export
from crm_followups.transform.dbt_runner import build_warehouse
from ml.score import score_communications
from ml.train import train_intent, train_models
from ml.trends import forecast_trends

RULES = load_rules()
TREND_RULES = {"negative_below": RULES.negative_sentiment_below,
               "engagement": RULES.engagement.test_thresholds()}

D = dt.date(2026, 3, 2)
COMPLAINT = "I am very unhappy with the Pro plan, it keeps failing."
PURCHASE = "We would like to buy the Pro plan this quarter, please send the contract."
SUPPORT = "I cannot log in to the mobile app, can you help?"
OTHER = "Thanks for the webinar about the analytics add-on."
REPLY = "Thanks for reaching out, we are on it."


def _at(days_before: float, hour: int = 9) -> str:
    moment = dt.datetime.combine(D, dt.time(hour)) - dt.timedelta(days=days_before)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _customer(cid: str, **overrides) -> dict:
    return {"customer_id": cid, "name": f"Scenario {cid}", "email": f"{cid.lower()}@example.com",
            "phone": "+1-555-00000000", "company": "Scenario Ltd", "segment": "enterprise", "country": "US",
            "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z", "owner_id": "U001",
            "annual_value": 300000, "do_not_contact": False, "email_opt_out": False, **overrides}


def _message(cid: str, n: int, when: str, body: str, label: str = "", direction: str = "inbound",
             channel: str = "email") -> dict:
    return {"communication_id": f"{cid}-{n:03d}", "customer_id": cid, "channel": channel,
            "direction": direction, "occurred_at": when, "subject": "", "body": body,
            "agent_id": "U001" if direction == "outbound" else "", "label": label}


def _answered(cid: str, n: int, days_before: float, body: str, label: str) -> list[dict]:
    return [_message(cid, n, _at(days_before), body, label),
            _message(cid, n + 500, _at(days_before, 11), REPLY, direction="outbound")]


def scenario_rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    customers = [_customer("S001"), _customer("S002"), _customer("S003"),
                 _customer("S004", do_not_contact=True), _customer("S005", email_opt_out=True),
                 _customer("S006", segment="smb", annual_value=5000), _customer("S007")]
    messages = [
        _message("S001", 1, _at(1), COMPLAINT, "complaint"),               # unanswered complaint
        _message("S002", 1, _at(1, 10), PURCHASE, "purchase_intent"),      # purchase-intent e-mail
        *_answered("S003", 1, 2, COMPLAINT, "complaint"),                  # answered: nothing
        _message("S004", 1, _at(1), COMPLAINT, "complaint"),               # do-not-contact: nothing
        _message("S005", 1, _at(1), PURCHASE, "purchase_intent"),          # opted out of e-mail
    ]
    for i, days in enumerate(range(100, 30, -2)):                          # going quiet a month ago
        messages += _answered("S006", i, days, OTHER, "other")
    for i, days in enumerate(range(90, 10, -8)):                           # a contact every 8 days...
        messages += _answered("S007", i, days, SUPPORT, "support_request")
    for i, days in enumerate((5, 4, 4, 3, 2, 2, 1, 1)):                    # ...then eight in five days
        messages += _answered("S007", 100 + i, days, SUPPORT, "support_request")
    return pd.DataFrame(customers), pd.DataFrame(messages)


def _night(settings: Settings, as_of: dt.date, run_id: str,
           train: Callable[[Settings], object] = train_intent) -> None:
    """The nightly steps in order; the scenarios train only the intent model, so that sentiment
    arrives on the night they choose."""
    load_exports(settings)
    build_warehouse(settings)
    train(settings)
    score_communications(settings)
    forecast_trends(settings, as_of, **TREND_RULES)
    build_followups(settings, as_of, run_id)
    publish_followups(settings, as_of)


def _followups(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    return con.execute("select * from marts.followups where as_of_date = ? order by followup_id",
                       [as_of]).df()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Night 1 for ``D``, then the same date again."""
    return _first_night(tmp_path_factory.mktemp("followups") / "data")


def _first_night(data_dir):
    settings = Settings(data_dir=data_dir)
    settings.ensure_dirs()
    inbox = settings.exports_dir / "generic"
    write_export(inbox, D)
    customers, messages = scenario_rows()
    customers.to_csv(inbox / "customers_scenarios.csv", index=False)
    messages.to_csv(inbox / "communications_scenarios.csv", index=False)
    _night(settings, D, "night-1")
    with duckdb.connect(str(settings.warehouse_path)) as con:
        first = _followups(con, D)
    build_followups(settings, D, "night-1")  # the same date again
    with duckdb.connect(str(settings.warehouse_path)) as con:
        again = _followups(con, D)
    return settings, first, again


def _for(frame: pd.DataFrame, customer: str) -> pd.DataFrame:
    return frame[frame["customer_id"] == customer]


def test_unanswered_complaint_goes_to_service(pipeline):
    _, first, _ = pipeline
    rows = _for(first, "S001")
    assert rows[["reason_code", "owner_queue", "status"]].values.tolist() == [
        ["complaint", "service", "open"]]
    assert list(rows["evidence_communication_ids"].iat[0]) == ["S001-001"]
    assert rows["recommended_channel"].iat[0] == "email"
    assert rows["dag_run_id"].iat[0] == "night-1" and rows["model_version"].iat[0] is not None


def _rules_with(tmp_path: Path, change: Callable[[dict], None]) -> FollowupRules:
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    change(rules)
    path = tmp_path / "followup_rules.yml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return load_rules(path)


def _sure_purchases_only_and_fast_email(rules: dict) -> None:
    rules["intents"]["purchase_intent"]["min_confidence"] = 1.0
    rules["reply_within_hours"]["email"] = 1


def test_an_intent_below_its_rules_confidence_waits_for_the_reply_time(pipeline, tmp_path):
    """Scoring always writes the best intent; the rule's ``min_confidence`` decides whether it
    raises its reason. Below it, the message is of unknown intent: ``unanswered_inbound`` once
    its channel's reply time has passed."""
    settings = pipeline[0]
    with duckdb.connect(str(settings.warehouse_path)) as con:
        intent, confidence = con.execute("select intent, intent_confidence from ml.communication_scores "
                                         "where communication_id = 'S002-001'").fetchone()
    assert intent == "purchase_intent" and 0.4 <= confidence < 1.0
    try:
        build_followups(settings, D, "night-1", _rules_with(tmp_path, _sure_purchases_only_and_fast_email))
        with duckdb.connect(str(settings.warehouse_path)) as con:
            strict = _followups(con, D)
    finally:
        build_followups(settings, D, "night-1")  # the shipped rules' rows back for the other tests
    assert _for(strict, "S002")["reason_code"].tolist() == ["unanswered_inbound"]
    assert _for(strict, "S001")["reason_code"].tolist() == ["complaint"]  # 0.4 still reached


def test_purchase_intent_email_goes_to_sales_by_email(pipeline):
    _, first, _ = pipeline
    rows = _for(first, "S002")
    assert rows[["reason_code", "owner_queue", "recommended_channel"]].values.tolist() == [
        ["purchase_intent", "sales", "email"]]
    assert rows["priority"].iat[0] in (1, 2, 3) and 0 <= rows["score"].iat[0] <= 1
    assert rows["due_date"].iat[0] >= pd.Timestamp(D)


def test_customer_going_quiet_is_declining_engagement_for_success(pipeline):
    _, first, _ = pipeline
    rows = _for(first, "S006")
    assert rows[["reason_code", "owner_queue"]].values.tolist() == [["declining_engagement", "success"]]
    assert "0 inbound contacts in the last 28 days" in rows["detail"].iat[0]


def test_volume_spike_goes_to_service(pipeline):
    _, first, _ = pipeline
    rows = _for(first, "S007")
    assert rows[["reason_code", "owner_queue"]].values.tolist() == [["volume_spike", "service"]]
    assert len(rows["evidence_communication_ids"].iat[0]) == 8


def test_nothing_for_an_answered_message_or_a_do_not_contact_customer(pipeline):
    _, first, _ = pipeline
    assert _for(first, "S003").empty
    assert _for(first, "S004").empty


def test_no_email_for_an_email_opt_out(pipeline):
    _, first, _ = pipeline
    rows = _for(first, "S005")
    assert rows["reason_code"].tolist() == ["purchase_intent"]
    assert rows["recommended_channel"].iat[0] == "phone"


def test_rerunning_a_date_changes_nothing(pipeline):
    _, first, again = pipeline
    assert len(first) > 0
    pd.testing.assert_frame_equal(first.drop(columns="created_at"), again.drop(columns="created_at"))
    assert first["followup_id"].is_unique


def test_outbox_csv_is_shaped_for_a_task_import(pipeline):
    settings, first, _ = pipeline
    tasks = pd.read_csv(settings.outbox_dir / f"followups_{D}.csv")
    assert {"Subject", "Description", "ActivityDate", "Priority", "Status", "OwnerQueue", "CustomerId",
            "FollowupId"} <= set(tasks.columns)
    assert len(tasks) == len(first)
    assert set(tasks["Priority"]) <= {"High", "Normal", "Low"} and set(tasks["Status"]) == {"Not Started"}
    complaint = tasks[tasks["CustomerId"] == "S001"].iloc[0]
    assert complaint["OwnerQueue"] == "service" and "S001-001" in complaint["Description"]
    assert not list(settings.outbox_dir.glob(".*"))  # no temporary file left behind


def test_report_and_csv_are_in_the_trends_run(pipeline):
    settings, _, _ = pipeline
    page = (settings.reports_dir / f"run_{D}.html").read_text(encoding="utf-8")
    assert all(queue in page for queue in ("sales", "service", "success"))
    assert page.count("data:image/png;base64,") >= 5  # one chart per channel with enough history
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(TRENDS_EXPERIMENT)
    run = client.search_runs([experiment.experiment_id], max_results=1)[0]
    names = {a.path for a in client.list_artifacts(run.info.run_id, "followups")}
    assert {f"followups/followups_{D}.csv", f"followups/run_{D}.html"} <= names
    charts = client.list_artifacts(run.info.run_id, "charts")
    assert len(charts) == run.data.metrics["series_modelled"] > 0
    assert any(k.startswith("model.inbound.channel_") for k in run.data.params)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        run_ids = con.execute("select distinct mlflow_run_id from ml.contact_trends where as_of_date = ?",
                              [D]).fetchall()
    assert run_ids == [(run.info.run_id,)]


def test_next_night_carries_open_followups_and_closes_answered_ones(pipeline):
    """Night 2: the complaint was answered, the customer going quiet turned negative."""
    settings, first, _ = pipeline
    inbox = settings.exports_dir / "generic"
    reply = pd.DataFrame([_message("S001", 900, _at(0, 10), REPLY, direction="outbound")])
    reply.to_csv(inbox / "communications_night2.csv", index=False)
    load_exports(settings)
    build_warehouse(settings)
    with duckdb.connect(str(settings.warehouse_path)) as con:  # a sentiment model's scores arrive
        con.execute("""update ml.communication_scores set
                           sentiment = case when communication_id like 'S006-%' then -0.7
                                            when intent = 'complaint' then -0.6 else 0.3 end,
                           sentiment_label = case when communication_id like 'S006-%'
                                                  or intent = 'complaint' then 'negative'
                                                  else 'positive' end""")
    next_day = D + dt.timedelta(days=1)
    forecast_trends(settings, next_day, **TREND_RULES)
    build_followups(settings, next_day, "night-2")
    publish_followups(settings, next_day)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        second = _followups(con, next_day)
        shares = con.execute("""select series_key, status from ml.trend_models
                                where as_of_date = ? and series_key = 'negative_share|all'""",
                             [next_day]).fetchall()
    complaint = _for(second, "S001")
    assert complaint[["status", "status_reason"]].values.tolist() == [["closed", "answered"]]
    assert complaint["followup_id"].iat[0] == _for(first, "S001")["followup_id"].iat[0]
    purchase = _for(second, "S002")
    assert purchase["followup_id"].tolist() == _for(first, "S002")["followup_id"].tolist()
    assert purchase["status"].tolist() == ["open"] and purchase["status_reason"].iat[0] == "still open"
    assert purchase["opened_on"].iat[0] == pd.Timestamp(D - dt.timedelta(days=1))  # its e-mail's day
    assert set(_for(second, "S006")["reason_code"]) == {"declining_engagement", "churn_risk"}
    assert shares == [("negative_share|all", "modelled")]

    build_followups(settings, next_day + dt.timedelta(days=1), "night-3")
    with duckdb.connect(str(settings.warehouse_path)) as con:
        third = _followups(con, next_day + dt.timedelta(days=1))
    assert _for(third, "S001").empty  # a closed follow-up appears once, then no more
    assert _for(third, "S002")["followup_id"].tolist() == _for(first, "S002")["followup_id"].tolist()


def test_a_backfilled_earlier_date_does_not_rename_a_later_dates_followups(pipeline):
    settings, _, _ = pipeline
    build_followups(settings, D, "night-1")
    with duckdb.connect(str(settings.warehouse_path)) as con:
        before = _followups(con, D)
    build_followups(settings, D - dt.timedelta(days=2), "backfill")
    build_followups(settings, D, "night-1 again")
    with duckdb.connect(str(settings.warehouse_path)) as con:
        after = _followups(con, D)
    assert len(before) > 0
    columns = ["followup_id", "customer_id", "reason_code", "status", "opened_on"]
    assert after[columns].equals(before[columns])


def test_series_json_says_why_series_were_skipped(pipeline):
    settings, _, _ = pipeline
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(TRENDS_EXPERIMENT)
    first_run = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])[0]
    local = mlflow.artifacts.download_artifacts(run_id=first_run.info.run_id, artifact_path="series.json",
                                                dst_path=str(settings.data_dir))
    series = json.loads(Path(local).read_text(encoding="utf-8"))
    skipped = {s["series_key"]: s["reason"] for s in series if s["status"] == "skipped"}
    assert skipped["negative_share|all"].startswith("no scored sentiment yet")


@pytest.fixture(scope="module", params=[D, dt.date(2026, 7, 15), dt.date(2026, 11, 27)], ids=str)
def bundled_sample_night(request, tmp_path_factory) -> pd.DataFrame:
    """What ``make run`` gives on an empty inbox for a run date: the bundled sample alone, every
    text model trained (intent, sentiment, topics) and scoring, trends and follow-ups."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("bundled") / "data")
    settings.ensure_dirs()
    write_export(settings.exports_dir / "generic", request.param)
    _night(settings, request.param, "bundled", train=train_models)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        return _followups(con, request.param)


def test_bundled_sample_raises_every_reason(bundled_sample_night):
    assert set(bundled_sample_night["reason_code"]) == set(RULES.owner_queue)
    assert not bundled_sample_night["customer_id"].str.startswith("S").any()
