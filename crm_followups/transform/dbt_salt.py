"""A dbt-duckdb plugin (profiles.yml ``plugins``) that gives every dbt connection the night's
hashing salt as the DuckDB variable ``crm_hash_salt``, read by the ``salted_hash`` macro.

Why a plugin: a profile can only read environment variables, so a plain ``dbt build`` run by an
analyst had no salt, or a different one, and hashed contact details unlike the nights. Here the
salt is found the way the product finds it (the runner's secret variable, else ``CRM_HASH_SALT``,
else the data folder's ``hash_salt`` file), set with a bound parameter (never in SQL text,
compiled files or dbt's logs), and never generated: without one, dbt stops and says why.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from dbt_common.exceptions import DbtRuntimeError

from crm_followups.core.settings import HASH_SALT_FILE, Settings

# What crm_followups.transform.dbt_runner hands dbt: the salt of the settings it runs with.
RUNNER_SALT_VARIABLE = "DBT_ENV_SECRET_HASH_SALT"


def night_hash_salt(data_dir: Path) -> str:
    """The salt the nights hash with; raise, naming the folder and the fix, when there is none."""
    salt = os.environ.get(RUNNER_SALT_VARIABLE) or Settings(data_dir=data_dir).existing_hash_salt()
    if not salt:
        raise DbtRuntimeError(
            f"no hashing salt: CRM_HASH_SALT is not set and {data_dir.resolve() / HASH_SALT_FILE} "
            "does not exist. Run the nightly job first (`crm-followups run`), which creates it, or "
            "point CRM_DATA_DIR at the data folder a night made, or set CRM_HASH_SALT to the "
            "nights' salt; dbt does not hash with a salt of its own (docs/warehouse.md, Plain dbt).")
    return salt


class Plugin(BasePlugin):
    """Sets ``crm_hash_salt`` on every cursor: DuckDB variables belong to one connection, and
    dbt-duckdb opens a cursor per dbt connection."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        """``data_dir`` comes from profiles.yml; the salt is looked up only when dbt connects."""
        self.data_dir = Path(plugin_config["data_dir"])

    def configure_cursor(self, cursor: Any) -> None:
        """The salt as it is now: dbt-duckdb keeps this plugin for as long as the profile's values
        stay the same, and the salt is not one of them (a process may run nights with another
        salt). A bound parameter keeps it out of every SQL text."""
        cursor.execute("set variable crm_hash_salt = $1", [night_hash_salt(self.data_dir)])
