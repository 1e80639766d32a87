"""Every setting the product reads from the environment, typed and documented in one list.

Everything the pipeline writes lives under one data folder (``CRM_DATA_DIR``, default
``./var``) so a run can be moved, inspected or wiped as a unit; the paths below derive from
it. A bad value (``CRM_SCORE_BUCKETS=0``) fails when the settings are read, naming the
variable, not in the step that first uses it.
"""

from __future__ import annotations

import codecs
import datetime as dt
import os
import re
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_followups.core.privacy import make_private_folder, write_private_once

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DAGS_DIR = REPO_ROOT / "dags"
# The generated e-mail/phone salt in the data folder (when CRM_HASH_SALT is not set).
HASH_SALT_FILE = "hash_salt"
# nights/current: the link to the running night's folder, through which dbt opens its working copy
CURRENT_NIGHT = "current"


def night_key(run_id: str) -> str:
    """A folder name for an Airflow run (run ids hold ':' and '+')."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)


def night_folder(run_id: str) -> str:
    """The folder of a run's night under ``nights/``: never the link to the running night."""
    key = night_key(run_id)
    if key == CURRENT_NIGHT:
        raise ValueError(f"run id {run_id!r}: {CURRENT_NIGHT!r} names the link to the running night")
    return key


def utc_today() -> dt.date:
    """The default run date: the DAG's logical dates and `make run` (date -u) are UTC."""
    return dt.datetime.now(dt.UTC).date()


class Settings(BaseSettings):
    """The product's settings: ``CRM_<NAME>`` environment variables, or keyword arguments."""

    model_config = SettingsConfigDict(env_prefix="CRM_", frozen=True, populate_by_name=True, extra="ignore")

    data_dir: Path = Field(Path("var"), description="CRM_DATA_DIR: the folder holding all state.")
    configured_hash_salt: str | None = Field(
        None, validation_alias="CRM_HASH_SALT",
        description="CRM_HASH_SALT: salt of the e-mail and phone hashes; default: generated "
                    "once into the data folder.")
    tracking_server: str | None = Field(
        None, validation_alias="CRM_MLFLOW_TRACKING_URI",
        description="CRM_MLFLOW_TRACKING_URI: an MLflow tracking server; default: SQLite in the "
                    "data folder.")
    # 2 = the cores of a worker. Measured 2026-11-28 on 2 shared cores with the champions and the
    # 54,010 inbound rows of `bench/score_partitions.py --customers 3490 --days 180` (its
    # `partitioned`, workers = min(buckets, 2), runs alternated): 32.2 / 28.1 s at 1 bucket,
    # 36.4 / 25.4 s at 2, 42.0 / 49.9 s at 4. Each partition process pays ~21 s of start-up
    # (imports, skops loading), so 4 buckets on 2 workers pay it twice; 1 and 2 tie at 100k,
    # and 2 splits the per-row work of larger nights over both cores.
    score_buckets: int = Field(
        2, ge=1, description="CRM_SCORE_BUCKETS: customer hash buckets the nightly scoring splits "
                             "into, one mapped task each.")
    task_retries: int = Field(
        2, ge=0, description="CRM_TASK_RETRIES: retries of each DAG task (the CLI sets 0: fail fast).")
    pg_host: str = Field("127.0.0.1", description="CRM_PG_HOST: PostgreSQL of dbt's postgres target.")
    pg_port: int = Field(5432, description="CRM_PG_PORT")
    pg_user: str = Field("postgres", description="CRM_PG_USER")
    pg_database: str = Field("crm", description="CRM_PG_DATABASE")
    pg_password: str | None = Field(None, validation_alias="DBT_ENV_SECRET_PG_PASSWORD",
                                    description="DBT_ENV_SECRET_PG_PASSWORD (dbt keeps it out of logs).")
    file_settle_seconds: int = Field(
        120, ge=0, description="CRM_FILE_SETTLE_SECONDS: an export file modified more recently than "
                               "this may still be being written; extract leaves it for the next night.")
    max_line_bytes: int = Field(
        64 << 20, ge=1 << 10, description="CRM_MAX_LINE_BYTES: longest line (record) extract reads; a "
                                          "file with a longer one fails with its line number.")
    future_tolerance_hours: int = Field(
        24, ge=0, description="CRM_FUTURE_TOLERANCE_HOURS: an event time later than the load time plus "
                              "this is rejected at extract (clock skew and zones fit inside it).")
    backup_nights: int = Field(
        7, ge=0, description="CRM_BACKUP_NIGHTS: published warehouses kept in backups/ (the one each "
                             "night replaced), newest first; 0 keeps none.")
    night: str | None = Field(
        None, description="CRM_NIGHT: the night (run key) whose working copy the steps read and "
                          "write, ``nights/<night>/warehouse.duckdb``; unset: the published "
                          "warehouse. The DAG sets it per run (``for_night``).")
    raw_retention_days: int | None = Field(
        None, ge=1, description="CRM_RAW_RETENTION_DAYS: raw rows delivered (``_loaded_at``) more than "
                                "this many days ago that a later delivery of the same record replaced "
                                "are dropped each night at extract; default: kept (docs/privacy.md).")
    dbt_timeout_minutes: float = Field(
        10, gt=0, description="CRM_DBT_TIMEOUT_MINUTES: longest one dbt model, snapshot or test task "
                              "may run before it fails (a whole 1M-row night's dbt takes about 85 s).")
    train_timeout_minutes: float = Field(
        60, gt=0, description="CRM_TRAIN_TIMEOUT_MINUTES: longest the train task may run (intent "
                              "training alone took 323 s at 1M communications on a loaded machine).")
    score_timeout_minutes: float = Field(
        30, gt=0, description="CRM_SCORE_TIMEOUT_MINUTES: longest each scoring task (snapshot, one "
                              "partition, merge) may run.")
    step_timeout_minutes: float = Field(
        15, gt=0, description="CRM_STEP_TIMEOUT_MINUTES: longest any other task of the night may run "
                              "(checks, extract, trends, follow-ups, publish).")
    notify_webhook_url: str | None = Field(
        None, description="CRM_NOTIFY_WEBHOOK_URL: a failed task POSTs a JSON summary (DAG, run, task, "
                          "date, the error's last line; no customer data) here; default: no webhook.")
    notify_smtp_to: str | None = Field(
        None, description="CRM_NOTIFY_SMTP_TO: comma-separated addresses e-mailed when a task fails, "
                          "through the Airflow connection CRM_NOTIFY_SMTP_CONN_ID; default: no e-mail.")
    notify_smtp_conn_id: str = Field(
        "smtp_default", description="CRM_NOTIFY_SMTP_CONN_ID: the Airflow SMTP connection the failure "
                                    "e-mails go through (e.g. AIRFLOW_CONN_SMTP_DEFAULT).")
    generic_encoding: str = Field(
        "utf-8", description="CRM_GENERIC_ENCODING: encoding of the generic inbox's CSV files (utf-8 "
                             "with or without BOM, utf-16, latin-1, gbk, gb18030, ...).")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        """Steps run in other working directories (Airflow tasks, dbt): pin the folder once."""
        return path.resolve()

    @field_validator("night")
    @classmethod
    def _folder_name(cls, night: str | None) -> str | None:
        """The night names a folder under the data folder: nothing that could leave it."""
        return None if night is None else night_folder(night)

    @field_validator("generic_encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        """An unknown codec fails when the settings are read, not on the first file."""
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {encoding!r}") from exc
        return encoding

    def for_night(self, run_id: str) -> Settings:
        """These settings for one DAG run: its steps work on the night's own working copy."""
        return self.model_copy(update={"night": night_folder(run_id)})

    @property
    def notify_smtp_recipients(self) -> list[str]:
        """The addresses of ``CRM_NOTIFY_SMTP_TO``; empty: no failure e-mail."""
        return [a.strip() for a in (self.notify_smtp_to or "").split(",") if a.strip()]

    @property
    def published_warehouse_path(self) -> Path:
        """The file analysts read: replaced whole by each finished night, never written in place."""
        return self.data_dir / "warehouse.duckdb"

    @property
    def night_dir(self) -> Path | None:
        """The running night's folder: its working copy and scoring scratch, removed once published."""
        return None if self.night is None else self.data_dir / "nights" / self.night

    @property
    def warehouse_path(self) -> Path:
        """The warehouse the steps open: the night's working copy, else the published file."""
        night_dir = self.night_dir
        return self.published_warehouse_path if night_dir is None else night_dir / "warehouse.duckdb"

    @property
    def current_night_link(self) -> Path:
        """``nights/current``: a link to the running night's folder, made by ``begin_night``.
        dbt's profile opens the working copy through it, so its path is the same every night."""
        return self.data_dir / "nights" / CURRENT_NIGHT

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def backups_dir(self) -> Path:
        return self.data_dir / "backups"

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
    def champion_loads_path(self) -> Path:
        """The fingerprint of each champion version that loaded (``ml.tracking.check_champions``)."""
        return self.mlflow_dir / "champion_loads.json"

    @property
    def mlflow_tracking_uri(self) -> str:
        """The tracking server, else SQLite in the data folder.

        Not MLflow's own ``MLFLOW_TRACKING_URI``: ``mlflow.set_tracking_uri`` writes that into
        the process environment, so one step would redirect the next one's store."""
        return self.tracking_server or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifacts_uri(self) -> str:
        return (self.mlflow_dir / "artifacts").as_uri()

    @property
    def scoring_dir(self) -> Path:
        """Scratch Parquet of the partitioned scoring runs; each merge removes its own, and a
        night's goes with its folder when the night is published."""
        return (self.night_dir or self.data_dir) / "scoring"

    @property
    def airflow_home(self) -> Path:
        return self.data_dir / "airflow"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's artifacts and partial-parse state. A night's commands keep their own: dbt parses
        the whole project again when the profile differs from the last one parsed there, and the
        nights' profile opens ``nights/current``, the set-up's and a user's the published file."""
        return self.data_dir / "dbt" / ("target" if self.night is None else "night-target")

    @property
    def dbt_manifest_path(self) -> Path:
        """Written by ``dbt parse`` in the set-up; the DAG renders one task per dbt node from it."""
        return self.dbt_target_dir / "manifest.json"

    @property
    def cosmos_cache_dir(self) -> Path:
        return self.data_dir / "dbt" / "cosmos"

    @property
    def postgres_dsn(self) -> str:
        """The database of dbt's ``postgres`` target, as libpq reads it."""
        return " ".join([f"host={self.pg_host}", f"port={self.pg_port}", f"user={self.pg_user}",
                         f"dbname={self.pg_database}",
                         *([f"password={self.pg_password}"] if self.pg_password else [])])

    @cached_property
    def hash_salt(self) -> str:
        """The configured salt, else one generated once into the data folder (never the repo)."""
        return self.configured_hash_salt or self._generated_secret(HASH_SALT_FILE)

    def existing_hash_salt(self) -> str | None:
        """The salt the nights hash with, or None before the first night made one: for readers
        such as a plain ``dbt build``, which must never hash with a salt of their own."""
        if self.configured_hash_salt:
            return self.configured_hash_salt
        salt_file = self.data_dir / HASH_SALT_FILE
        return salt_file.read_text().strip() if salt_file.is_file() else None

    @cached_property
    def erasure_salt(self) -> str:
        """Salt of the erased customers' keys (``raw._erasures``); its own file, so rotating the
        e-mail/phone salt leaves every erasure in force."""
        return self._generated_secret("erasure_salt")

    def _generated_secret(self, name: str) -> str:
        """A random secret kept in the data folder, created owner-only from its first byte."""
        secret_file = self.data_dir / name
        if not secret_file.exists():
            make_private_folder(self.data_dir)
            write_private_once(secret_file, secrets.token_hex(16))
        return secret_file.read_text().strip()

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
            # task logs quote what steps log: readable by the owner only (Airflow's default widens
            # them to 0664 / 0775 whatever the umask)
            "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": "0o600",
            "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": "0o700",
            "CRM_DATA_DIR": str(self.data_dir),
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            # nothing phones home (and nothing is written to ~/.config)
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "1",
        }

    def ensure_dirs(self) -> None:
        """The data folder (0700 when created here) and the folders the steps write into."""
        make_private_folder(self.data_dir)
        for path in (self.exports_dir / "generic", self.outbox_dir, self.reports_dir,
                     self.mlflow_dir, self.airflow_home):
            path.mkdir(parents=True, exist_ok=True)
