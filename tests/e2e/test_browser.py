"""What people see after a night on the sample, in a real browser: the MLflow UI (experiments,
a crm-intent run with its metrics and confusion matrix, two runs compared, the registry's
champion), the Airflow UI (crm_nightly's last run and its dbt task group), the dbt docs'
lineage graph and the HTML report (names, messages, Chinese in a CJK font).

Headless Chromium from Debian (``make browser`` installs it; nothing is downloaded at run
time) driven by Playwright. Each page is saved to ``var/screenshots/<name>.png`` in the
checkout, which CI keeps and docs/screenshots.md links. Skipped without /usr/bin/chromium,
except in CI (CI=true), where a skip would hide that the browser tests never ran."""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from crm_followups.cli.nightly import run_nightly
from crm_followups.cli.stack import set_up
from crm_followups.core.names import CHAMPION_ALIAS, DAG_ID, INTENT_EXPERIMENT, INTENT_MODEL
from crm_followups.core.settings import REPO_ROOT, Settings
from crm_followups.delivery.report import TOP_PER_QUEUE
from crm_followups.transform.dbt_runner import run_dbt
from ml.train import train_intent
from tests.servers import Processes, free_port, http_ok

pytestmark = pytest.mark.e2e

RUN_DATE = dt.date(2026, 3, 2)
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
EXPERIMENTS = ["crm-intent", "crm-scoring", "crm-sentiment", "crm-topics", "crm-trends"]
SERVER_START_S = 180
PAGE_TIMEOUT_MS = 60_000
GRAPH_LAYOUT_MS = 3_000  # the lineage graph is drawn on a canvas, then laid out: no element says when
# The largest report that mails comfortably (most mail servers cap a message at 10-25 MB).
REPORT_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class Night:
    settings: Settings
    intent_runs: list[str]  # newest first
    intent_experiment_id: str


@dataclass(frozen=True)
class Servers:
    mlflow: str
    airflow: str
    dbt_docs: str


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {CHROMIUM} is missing: `make test` installs it (make browser)")
        pytest.skip(f"no {CHROMIUM}: `make browser` installs Debian's chromium and fonts-noto-cjk")
    return CHROMIUM


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory, chromium: Path) -> Iterator[Night]:
    """One night on the sample in a data folder of its own (tests/e2e/test_nightly.py counts
    the model versions in the session's), a second crm-intent run to compare with the night's,
    and the dbt docs site. Airflow's metadata stays the session's: Airflow reads its home once
    per process."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("browser"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_DATA_DIR", str(settings.data_dir))
        # MLflow writes the tracking URI into the environment: the session's comes back after
        patch.setenv("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
        set_up(settings)
        run_nightly(settings, RUN_DATE)
        train_intent(settings, force=True)
        run_dbt(settings, "docs generate")
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
        experiment = client.get_experiment_by_name(INTENT_EXPERIMENT)
        runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
        yield Night(settings, [run.info.run_id for run in runs], experiment.experiment_id)


@pytest.fixture(scope="module")
def servers(night: Night) -> Iterator[Servers]:
    """The MLflow and Airflow UIs and the dbt docs site over the night's stores, on free
    loopback ports, stopped when the module ends."""
    settings = night.settings
    ports = {name: free_port() for name in ("mlflow", "airflow", "dbt_docs")}
    # the session's Airflow environment (its metadata holds the night's run), this data folder
    env = {**os.environ, "CRM_DATA_DIR": str(settings.data_dir),
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    processes = Processes(settings.data_dir / "server-logs", env)
    with ExitStack() as stack:
        stack.callback(processes.stop_all)
        processes.start("mlflow", "mlflow", "server", "--backend-store-uri", settings.mlflow_tracking_uri,
                        "--host", "127.0.0.1", "--port", str(ports["mlflow"]), "--workers", "1")
        # local demo only: every user is admin, no login page
        processes.start("airflow", "airflow", "api-server", "--host", "127.0.0.1", "--port",
                        str(ports["airflow"]), env={"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"})
        processes.start("dbt-docs", "http.server", "--bind", "127.0.0.1", "--directory",
                        str(settings.dbt_target_dir), str(ports["dbt_docs"]))
        urls = Servers(**{name: f"http://127.0.0.1:{port}" for name, port in ports.items()})
        processes.wait_for("the MLflow server", lambda: http_ok(f"{urls.mlflow}/health"), SERVER_START_S)
        processes.wait_for("the Airflow api-server", lambda: http_ok(f"{urls.airflow}/api/v2/monitor/health"),
                           SERVER_START_S)
        processes.wait_for("the dbt docs site", lambda: http_ok(f"{urls.dbt_docs}/index.html"),
                           SERVER_START_S)
        yield urls


@pytest.fixture(scope="module")
def browser(chromium: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    yield context.new_page()
    context.close()


def _close_mlflow_assistant(page) -> None:
    """MLflow 3's assistant panel takes a quarter of every page: out of the screenshots (once
    closed, it stays closed for the browser context)."""
    close = page.get_by_role("button", name="Close", exact=True).first
    if close.is_visible():
        close.click()


def _screenshot(page, name: str, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def test_mlflow_lists_the_five_experiments(servers: Servers, page) -> None:
    page.goto(f"{servers.mlflow}/#/experiments")
    for name in EXPERIMENTS:
        page.get_by_role("link", name=name, exact=True).wait_for()
    _close_mlflow_assistant(page)
    _screenshot(page, "mlflow-experiments")


def test_mlflow_shows_a_crm_intent_run_with_metrics_and_its_confusion_matrix(night: Night, servers: Servers,
                                                                           page) -> None:
    run = f"{servers.mlflow}/#/experiments/{night.intent_experiment_id}/runs/{night.intent_runs[0]}"
    page.goto(run)
    page.get_by_text("holdout_accuracy").first.wait_for()
    page.get_by_text("holdout_macro_f1").first.wait_for()
    _close_mlflow_assistant(page)
    page.get_by_text("holdout_macro_f1").first.scroll_into_view_if_needed()
    _screenshot(page, "mlflow-intent-run")

    page.goto(f"{run}/artifacts/holdout_confusion_matrix.png")
    page.get_by_text("holdout_confusion_matrix.png").first.wait_for()
    page.locator("img[src*='holdout_confusion_matrix.png'], img[src^='blob:']").first.wait_for()
    _close_mlflow_assistant(page)
    _screenshot(page, "mlflow-confusion-matrix")


def test_mlflow_compares_two_intent_runs(night: Night, servers: Servers, page) -> None:
    assert len(night.intent_runs) >= 2, "the night's intent run and the forced one"
    runs, experiments = json.dumps(night.intent_runs[:2]), json.dumps([night.intent_experiment_id])
    page.goto(f"{servers.mlflow}/#/compare-runs?runs={urllib.parse.quote(runs)}"
              f"&experiments={urllib.parse.quote(experiments)}")
    page.get_by_text("Comparing 2 Runs").first.wait_for()
    for run_id in night.intent_runs[:2]:
        page.get_by_text(run_id).first.wait_for()
    page.get_by_text("holdout_accuracy").first.wait_for()
    page.locator(".js-plotly-plot").first.wait_for()  # the runs' parallel coordinates
    _close_mlflow_assistant(page)
    _screenshot(page, "mlflow-compare-runs")


def test_mlflow_registry_shows_crm_intent_with_its_champion(servers: Servers, page) -> None:
    page.goto(f"{servers.mlflow}/#/models/{INTENT_MODEL}")
    page.get_by_text(f"@ {CHAMPION_ALIAS}", exact=True).wait_for()
    _close_mlflow_assistant(page)
    _screenshot(page, "mlflow-registry-champion")


def test_airflow_shows_crm_nightly_succeeded_with_the_dbt_task_group(servers: Servers, page) -> None:
    page.goto(f"{servers.airflow}/dags/{DAG_ID}/runs")
    page.locator("tbody tr").first.get_by_text("Success", exact=True).wait_for()  # newest first
    _screenshot(page, "airflow-crm-nightly-runs")
    page.goto(f"{servers.airflow}/dags/{DAG_ID}/tasks/group/transform")
    page.get_by_text("Failed Task Instances").first.wait_for()
    page.get_by_role("button", name="Expand all task groups").click()
    # one task per model and snapshot (dbt build: the node, then its tests)
    for dbt_task in ("stg_generic__communications_model_build", "fct_communications_model_build",
                     "snp_customers_snapshot_build"):
        page.get_by_text(dbt_task, exact=True).first.wait_for()
    _screenshot(page, "airflow-transform-group")


def test_dbt_docs_show_the_lineage_graph(servers: Servers, page) -> None:
    page.goto(f"{servers.dbt_docs}/index.html#!/overview?g_v=1")  # the whole project's graph
    page.get_by_text("Lineage Graph", exact=True).wait_for()
    page.locator(".launcher-window canvas").first.wait_for()
    page.locator("form").get_by_text("--select", exact=True).wait_for()  # the graph's selector bar
    page.wait_for_timeout(GRAPH_LAYOUT_MS)
    _screenshot(page, "dbt-docs-lineage")


def _report_rows(settings: Settings) -> list[tuple[str, str]]:
    """The names and message subjects the report must show, read from the warehouse."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute("""
            with top as (
                select customer_id, evidence_communication_ids[1] as evidence_id from marts.followups
                where as_of_date = ? and status = 'open'
                qualify row_number() over (partition by owner_queue order by priority, score desc,
                                                                         followup_id) <= ?)
            select distinct c.name, m.subject from top
            join marts.dim_customers c using (customer_id)
            join marts.fct_communications m on m.communication_id = top.evidence_id
                                            and m.customer_id = top.customer_id""",
                           [RUN_DATE, TOP_PER_QUEUE]).fetchall()


def _fonts_rendering(page, selector: str) -> set[str]:
    """The fonts Chromium really drew the element's text with (DevTools CSS domain)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    return {font["familyName"] for font in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]}


def test_the_report_shows_names_and_messages_with_chinese_in_a_cjk_font(night: Night, page) -> None:
    report = night.settings.reports_dir / f"run_{RUN_DATE}.html"
    assert report.stat().st_size < REPORT_MAX_BYTES
    rows = _report_rows(night.settings)
    assert rows, "the sample's night raises follow-ups"
    page.goto(report.as_uri())
    for name, subject in rows:  # in one row: the follow-up's customer and its message
        row = page.locator("tbody tr").filter(has_text=name).filter(has_text=subject).first
        row.wait_for()
        assert row.is_visible()
    chinese = next(name for name, _ in rows if any("\u4e00" <= char <= "\u9fff" for char in name))
    cell = page.get_by_role("link", name=chinese, exact=True).first
    cell.evaluate("element => element.id = 'chinese-name'")
    fonts = _fonts_rendering(page, "#chinese-name")
    assert any("CJK" in font for font in fonts), (
        f"{chinese!r} was drawn with {fonts}, no CJK font: is fonts-noto-cjk installed (make browser)?")
    _screenshot(page, "report", full_page=True)
