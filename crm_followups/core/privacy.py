"""Personal data: the keys that identify an erased customer without naming them, and files
created readable by their owner only.

``docs/privacy.md`` says what personal data is where and how these are used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # settings import this module, and the DAG file imports settings: no duckdb at parse
    import duckdb

# Every file and folder a product process creates is its owner's alone (warehouse, MLflow and
# Airflow databases, logs, outbox): set once per process, inherited by its subprocesses.
PRIVATE_UMASK = 0o077

# The reason an erased customer's re-delivered rows are rejected at extract (no text kept).
ERASED_REASON = "erased on request"


def erasure_key(salt: str, source_system: str, customer_id: str) -> str:
    """The SHA-256 (hex) that stands for an erased customer in ``raw._erasures``.

    Salted with the erasure salt (not the e-mail/phone salt, so rotating that one keeps every
    erasure in force); the SQL twin is in :func:`erased_sql`, used at extract."""
    return hashlib.sha256(f"{salt}{source_system}|{customer_id.strip()}".encode()).hexdigest()


ERASURE_SALT_VARIABLE = "crm_erasure_salt"
ERASED_KEYS_VARIABLE = "crm_erased_keys"


def prepare_erasure_check(con: duckdb.DuckDBPyConnection, salt: str) -> None:
    """Session variables for :func:`erased_sql`: the erasure salt (so it is never in SQL text)
    and every erased customer's key, read from ``raw._erasures`` once."""
    con.execute(f"set variable {ERASURE_SALT_VARIABLE} = ?", [salt])
    con.execute(f"set variable {ERASED_KEYS_VARIABLE} = "
                "(select coalesce(list(distinct erasure_key), []) from raw._erasures)")


def erased_sql(customer_ids_sql: str, source_system: str) -> str:
    """SQL true when any customer id of the list ``customer_ids_sql`` (of ``source_system``) was
    erased: :func:`erasure_key` computed in DuckDB, against the keys set by
    :func:`prepare_erasure_check`."""
    system = source_system.replace("'", "''")
    key = (f"sha256(getvariable('{ERASURE_SALT_VARIABLE}') || '{system}|' || trim(customer_id))")
    return (f"coalesce(list_has_any(list_transform({customer_ids_sql}, lambda customer_id: {key}), "
            f"getvariable('{ERASED_KEYS_VARIABLE}')), false)")


def write_private_once(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only from its first byte (never narrowed after
    writing) and whole: written under a private temporary name, then linked into place, which
    fails if another process got there first (theirs is then the one everybody reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink()


def make_private_folder(path: Path) -> None:
    """Create ``path`` (and its parents) as 0700; an existing folder keeps its mode, which
    its owner chose."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
