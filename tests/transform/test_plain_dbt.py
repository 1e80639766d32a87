"""Plain dbt, as an analyst runs it: ``cd dbt_project && dbt build`` in a shell with none of the
product's variables, on a data folder the product's own build made, hashes contact details
exactly as the night did; without the nights' salt it stops and says why; and ``dbt docs
generate`` works from there, writes no usage cookie and turns the docs site's tracking off.

The data folder is built by crm_followups.transform.dbt_runner, the path the night's dbt
step takes, with a salt generated into the folder as on a first night without CRM_HASH_SALT.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from crm_followups.core.settings import DBT_PROJECT_DIR, HASH_SALT_FILE, Settings
from crm_followups.core.warehouse import PYTHON_TABLES
from crm_followups.extract.load import load_exports
from crm_followups.sample.generate import write_export
from crm_followups.transform.dbt_runner import run_dbt

DBT = Path(sys.executable).with_name("dbt")
HASHES_SQL = "select customer_id, email_hash, phone_hash from marts.dim_customers order by customer_id"
CONTRACT_MARTS = {"fct_communications", "dim_customers", "agg_customer_activity_daily"}


def _plain_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    """An analyst's shell: none of the product's or dbt's variables (so no DBT_ENV_SECRET_HASH_SALT),
    dbt's target and logs kept out of the repo, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "DBT_"))}
    return {**env, "DBT_TARGET_PATH": str(tmp_path / "target"), "DBT_LOG_PATH": str(tmp_path / "logs"),
            **variables}


def _plain_dbt(project_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DBT), *args], cwd=project_dir, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def _hashes(warehouse: Path) -> list[tuple[str, str | None, str | None]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(HASHES_SQL).fetchall()


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A data folder built by the product's dbt runner, its salt generated into the folder."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("CRM_HASH_SALT", raising=False)
        settings = Settings(data_dir=tmp_path_factory.mktemp("night"), file_settle_seconds=0)
        settings.ensure_dirs()
        write_export(settings.exports_dir / "generic", dt.date(2026, 3, 2), customers=20, days=14)
        load_exports(settings)
        run_dbt(settings, "build")
        assert (settings.data_dir / HASH_SALT_FILE).is_file()
        yield settings


def test_plain_dbt_build_hashes_as_the_night_did(night: Settings, tmp_path: Path) -> None:
    nightly = _hashes(night.warehouse_path)
    assert nightly and all(email and phone for _, email, phone in nightly), "the sample has contacts"
    with duckdb.connect(str(night.warehouse_path)) as con:  # a rebuild must recompute every hash
        con.execute("update marts.dim_customers set email_hash = null, phone_hash = null")

    done = _plain_dbt(DBT_PROJECT_DIR, _plain_env(tmp_path, CRM_DATA_DIR=str(night.data_dir)), "build")

    assert done.returncode == 0, done.stdout[-3000:]
    assert _hashes(night.warehouse_path) == nightly
    assert not (DBT_PROJECT_DIR / ".user.yml").exists(), "dbt wrote its usage cookie into the repo"
    salt = night.hash_salt
    for written in [*(tmp_path / "target").rglob("*"), *(tmp_path / "logs").rglob("*")]:
        assert not written.is_file() or salt not in written.read_text(errors="replace"), written


def test_the_defaults_find_the_data_folder_beside_dbt_project(night: Settings, tmp_path: Path) -> None:
    """A checkout's layout and no variable set: dbt_project/ reads ../var/warehouse.duckdb and
    ../var/hash_salt."""
    checkout = tmp_path / "checkout"
    shutil.copytree(DBT_PROJECT_DIR, checkout / "dbt_project",
                    ignore=shutil.ignore_patterns("target", "logs"))
    (checkout / "var").mkdir()
    for name in ("warehouse.duckdb", HASH_SALT_FILE):
        shutil.copy(night.data_dir / name, checkout / "var" / name)
    with duckdb.connect(str(checkout / "var" / "warehouse.duckdb")) as con:
        con.execute("update marts.dim_customers set email_hash = null")

    done = _plain_dbt(checkout / "dbt_project", _plain_env(tmp_path), "run", "--select", "dim_customers")

    assert done.returncode == 0, done.stdout[-3000:]
    assert _hashes(checkout / "var" / "warehouse.duckdb") == _hashes(night.warehouse_path)


def test_crm_hash_salt_is_the_salt_when_set(night: Settings, tmp_path: Path) -> None:
    """CRM_HASH_SALT wins over the folder's file, as in the product: sha256(salt || lower(trim(email)))."""
    shutil.copy(night.warehouse_path, tmp_path / "warehouse.duckdb")
    env = _plain_env(tmp_path, CRM_DATA_DIR=str(tmp_path), CRM_HASH_SALT="analyst-salt")

    done = _plain_dbt(DBT_PROJECT_DIR, env, "run", "--select", "dim_customers")

    assert done.returncode == 0, done.stdout[-3000:]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        pairs = con.execute("""select r.email, d.email_hash from marts.dim_customers d
                               join raw.customers r using (customer_id)""").fetchall()
    assert pairs
    for email, email_hash in pairs:
        assert email_hash == hashlib.sha256(f"analyst-salt{email.strip().lower()}".encode()).hexdigest()


def test_without_the_nights_salt_dbt_stops_and_says_why(night: Settings, tmp_path: Path) -> None:
    shutil.copy(night.warehouse_path, tmp_path / "warehouse.duckdb")

    done = _plain_dbt(DBT_PROJECT_DIR, _plain_env(tmp_path, CRM_DATA_DIR=str(tmp_path)), "build")

    assert done.returncode != 0
    message = " ".join(done.stdout.split())
    salt_file = tmp_path / HASH_SALT_FILE
    assert f"no hashing salt: CRM_HASH_SALT is not set and {salt_file} does not exist" in message
    assert "Run the nightly job first" in message
    assert not salt_file.exists(), "dbt must never make a salt of its own"
    assert _hashes(tmp_path / "warehouse.duckdb") == _hashes(night.warehouse_path), "nothing rebuilt"


def test_plain_dbt_docs_generate(night: Settings, tmp_path: Path) -> None:
    """The docs site of the whole flow: contracts on the warehouse contract's marts, every table
    the Python steps write as a tested source, the exposures; no tracking."""
    done = _plain_dbt(DBT_PROJECT_DIR, _plain_env(tmp_path, CRM_DATA_DIR=str(night.data_dir)),
                      "docs", "generate")

    assert done.returncode == 0, done.stdout[-3000:]
    target = tmp_path / "target"
    assert (target / "index.html").is_file() and (target / "catalog.json").is_file()
    assert not (DBT_PROJECT_DIR / ".user.yml").exists()
    manifest = json.loads((target / "manifest.json").read_text())
    # the docs page loads dbt's tracking script only when the manifest says so
    assert manifest["metadata"]["send_anonymous_usage_stats"] is False
    contracted = {n["name"] for n in manifest["nodes"].values()
                  if n["resource_type"] == "model" and n["contract"]["enforced"]}
    assert contracted == CONTRACT_MARTS
    sources = {f"{s['schema']}.{s['name']}": s["unique_id"] for s in manifest["sources"].values()}
    tested = {dep for n in manifest["nodes"].values() if n["resource_type"] == "test"
              for dep in n["depends_on"]["nodes"]}
    for table in PYTHON_TABLES:
        assert table in sources, f"{table} is written by Python but not a dbt source"
        assert sources[table] in tested, f"source {table} has no data test"
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert {"outbox_csv", "run_report", "text_models", "contact_trends", "followup_list"} <= exposures.keys()
    assert "source.crm_followups.followups.followups" in exposures["outbox_csv"]["depends_on"]["nodes"]
