"""A night works on its own copy of the warehouse and publishes it whole at the end.

DuckDB lets one process write a file, and no other process may even open it while that
writer holds it. So the night never opens ``$CRM_DATA_DIR/warehouse.duckdb`` (the published
file analysts read): ``begin_night`` copies it to ``nights/<run>/warehouse.duckdb``, every step
of the run writes that working copy, and ``publish_night`` renames it over the published file.
An analyst's connection held through the night keeps reading the previous night (the old
file stays readable through its open handle); the next connection sees the new night whole. A
night that fails leaves the published file untouched: running it again starts from a fresh copy.

dbt opens the working copy through the link ``nights/current`` (``dbt_warehouse_path``): dbt
parses the whole project again whenever its profile changes, and a path naming the run would
change it every night. The link leads to a directory, so DuckDB's write-ahead log lands beside
the real file.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from crm_followups.core.settings import CURRENT_NIGHT, Settings
from crm_followups.core.warehouse import connect, create_warehouse

log = logging.getLogger(__name__)


def wal_path(database: Path) -> Path:
    """DuckDB's write-ahead log beside a database file: changes not yet checkpointed into it."""
    return database.with_name(database.name + ".wal")


def _night_dir(settings: Settings) -> Path:
    if settings.night_dir is None:
        raise ValueError("not a night's settings: use Settings().for_night(run_id)")
    return settings.night_dir


def begin_night(settings: Settings) -> dict[str, str | None]:
    """A fresh working copy of the published warehouse for this night, so that re-running a
    failed night starts from the last published state, never from what the failed run wrote.

    Only one night runs at a time (the DAG's ``max_active_runs=1``), so the folders of earlier
    failed nights, kept until now for inspection, are removed."""
    night_dir = _night_dir(settings)
    shutil.rmtree(night_dir.parent, ignore_errors=True)
    night_dir.mkdir(parents=True)
    published = settings.published_warehouse_path
    if published.exists():
        # a plain copy: readers may hold the file, no writer does (nothing writes it in place)
        shutil.copyfile(published, settings.warehouse_path)
        if wal_path(published).exists():  # left by a writer that crashed: replayed on open
            shutil.copyfile(wal_path(published), wal_path(settings.warehouse_path))
    else:
        create_warehouse(settings)  # the first night
    with connect(settings):  # adds the tables and columns added since the last night
        pass
    link_current_night(night_dir)
    log.info("night %s works on %s", settings.night, settings.warehouse_path)
    return {"working_copy": str(settings.warehouse_path),
            "copied_from": str(published) if published.exists() else None}


def link_current_night(night_dir: Path) -> None:
    """Point ``nights/current`` at this night's folder (relatively: the data folder may move),
    once its working copy is ready. A new link renamed over the old one: a reader finds the
    previous night's or this one's, never none. Only one night runs at a time, so nothing of
    the previous night's reads it any more (and ``dbt_warehouse_path`` checks)."""
    link = night_dir.parent / CURRENT_NIGHT
    staged = link.with_name(f".{CURRENT_NIGHT}.{night_dir.name}")
    staged.unlink(missing_ok=True)
    staged.symlink_to(night_dir.name, target_is_directory=True)
    staged.replace(link)


def _leads_to(link: Path) -> Path | None:
    return link.resolve() if link.is_symlink() else None


def dbt_warehouse_path(settings: Settings) -> Path:
    """The warehouse as dbt's profile opens it: for a night, its working copy through
    ``nights/current``, the same path every night, so dbt's partial parsing stays warm.

    Fails unless the link leads to this night's working copy: a task retried after a later
    night began, or after this one was published, must not write another night's copy."""
    if settings.night_dir is None:
        return settings.warehouse_path
    link, leads_to = settings.current_night_link, _leads_to(settings.current_night_link)
    if leads_to != settings.night_dir.resolve() or not settings.warehouse_path.exists():
        raise FileNotFoundError(
            f"dbt not started: it opens this night's working copy {settings.warehouse_path} through "
            f"{link}, which leads to {leads_to or 'nothing'}"
            f"{'' if settings.warehouse_path.exists() else ', and the copy is missing'} (begin_night "
            "makes both; a later night's begin_night or this night's publish_night ends them)")
    return link / settings.warehouse_path.name


def publish_night(settings: Settings) -> dict[str, str]:
    """Checkpoint the working copy and rename it over the published warehouse (atomic on
    POSIX): new connections see the whole night, open ones keep the previous one. Then the
    night's folder (its scoring scratch too) goes."""
    working, published = settings.warehouse_path, settings.published_warehouse_path
    with connect(settings) as con:
        con.execute("checkpoint")
    if wal_path(working).exists():
        raise RuntimeError(f"{wal_path(working)} remains after the checkpoint (is another connection "
                           "writing the working copy?): nothing was published")
    if wal_path(published).exists():  # its changes were copied in by begin_night
        log.warning("removing %s, left by a writer that crashed before this night", wal_path(published))
        wal_path(published).unlink()
    backup = back_up(settings)
    working.replace(published)  # rename(2): atomic; open readers keep the old file
    shutil.rmtree(_night_dir(settings), ignore_errors=True)
    if _leads_to(settings.current_night_link) == settings.night_dir.resolve():
        settings.current_night_link.unlink()
    log.info("night %s published to %s", settings.night, published)
    return {"published": str(published), "backup": str(backup) if backup else None}


def back_up(settings: Settings) -> Path | None:
    """Keep the warehouse this night replaces as ``backups/warehouse_<night>.duckdb`` (a hard
    link: no copy, and the published file is never missing), then drop all but the newest
    ``backup_nights``. Restoring one is a rename over ``warehouse.duckdb`` (docs/operations.md)."""
    published = settings.published_warehouse_path
    if settings.backup_nights == 0 or not published.exists():
        return None
    settings.backups_dir.mkdir(parents=True, exist_ok=True)
    backup = settings.backups_dir / f"warehouse_{settings.night}.duckdb"
    backup.unlink(missing_ok=True)
    try:
        backup.hardlink_to(published)
    except OSError:  # another file system: copy instead
        shutil.copyfile(published, backup)
    kept = sorted(settings.backups_dir.glob("warehouse_*.duckdb"), key=lambda p: p.stat().st_mtime,
                  reverse=True)
    for old in kept[settings.backup_nights:]:
        old.unlink()
    return backup
