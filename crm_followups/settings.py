"""Where the pipeline keeps its state, read from the environment once.

Everything the pipeline writes lives under one data folder (``CRM_DATA_DIR``, default
``./var``) so a run can be moved, inspected or wiped as a unit.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DAGS_DIR = REPO_ROOT / "dags"

INTENT_EXPERIMENT = "crm-intent"
INTENT_MODEL = "crm_intent"
SENTIMENT_EXPERIMENT = "crm-sentiment"
SENTIMENT_MODEL = "crm_sentiment"
TOPICS_EXPERIMENT = "crm-topics"
TOPICS_MODEL = "crm_topics"
SCORING_EXPERIMENT = "crm-scoring"
TRENDS_EXPERIMENT = "crm-trends"
CHAMPION_ALIAS = "champion"
WAREHOUSE_POOL = "warehouse"
# Airflow's own pool: tasks that never open the warehouse (the scoring partitions) run here.
PARTITION_POOL = "default_pool"


def utc_today() -> dt.date:
    """The default run date: the DAG's logical dates and `make run` (date -u) are UTC."""
    return dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class Settings:
    """Paths and names derived from the data folder."""

    data_dir: Path

    @classmethod
    def from_env(cls) -> Settings:
        return cls(Path(os.environ.get("CRM_DATA_DIR", "var")).resolve())

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def mlflow_dir(self) -> Path:
        return self.data_dir / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        """``CRM_MLFLOW_TRACKING_URI`` (a tracking server), else SQLite in the data folder.

        Not MLflow's own ``MLFLOW_TRACKING_URI``: ``mlflow.set_tracking_uri`` writes that into
        the process environment, so one step would redirect the next one's store."""
        return os.environ.get("CRM_MLFLOW_TRACKING_URI") or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifacts_uri(self) -> str:
        return (self.mlflow_dir / "artifacts").as_uri()

    @property
    def score_buckets(self) -> int:
        """Customer hash buckets the night's scoring splits into (``CRM_SCORE_BUCKETS``)."""
        buckets = int(os.environ.get("CRM_SCORE_BUCKETS", "4"))
        if buckets < 1:
            raise ValueError(f"CRM_SCORE_BUCKETS must be at least 1, not {buckets}")
        return buckets

    @property
    def scoring_dir(self) -> Path:
        """Scratch Parquet of the partitioned scoring runs; each merge removes its own."""
        return self.data_dir / "scoring"

    @property
    def airflow_home(self) -> Path:
        return self.data_dir / "airflow"

    @property
    def dbt_target_dir(self) -> Path:
        return self.data_dir / "dbt" / "target"

    @property
    def dbt_manifest_path(self) -> Path:
        """Written by ``dbt parse`` in the set-up; the DAG renders one task per dbt node from it."""
        return self.dbt_target_dir / "manifest.json"

    @property
    def cosmos_cache_dir(self) -> Path:
        return self.data_dir / "dbt" / "cosmos"

    @cached_property
    def hash_salt(self) -> str:
        """``CRM_HASH_SALT``, else a salt generated once into the data folder (never the repo)."""
        if salt := os.environ.get("CRM_HASH_SALT"):
            return salt
        salt_file = self.data_dir / "hash_salt"
        if not salt_file.exists():
            salt_file.parent.mkdir(parents=True, exist_ok=True)
            salt_file.write_text(secrets.token_hex(16))
            salt_file.chmod(0o600)
        return salt_file.read_text().strip()

    def airflow_env(self) -> dict[str, str]:
        """Environment for an embedded Airflow: SQLite metadata under the data folder."""
        return {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "4"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            # cosmos keeps dbt's partial-parse files between tasks here, not in the system temp dir
            "AIRFLOW__COSMOS__CACHE_DIR": str(self.cosmos_cache_dir),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "CRM_DATA_DIR": str(self.data_dir),
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            # nothing phones home (and nothing is written to ~/.config)
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "1",
        }

    def ensure_dirs(self) -> None:
        for path in (self.exports_dir / "generic", self.outbox_dir, self.reports_dir,
                     self.mlflow_dir, self.airflow_home):
            path.mkdir(parents=True, exist_ok=True)
