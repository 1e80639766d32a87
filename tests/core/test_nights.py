"""A night writes its own copy of the warehouse and publishes it whole; readers never block it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import pytest

from crm_followups.core.nights import begin_night, dbt_warehouse_path, publish_night, wal_path
from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect

# Holds a read-only connection, answering each line on stdin with what it sees; "reconnect"
# closes it and opens a new one.
READER = textwrap.dedent("""
    import sys, duckdb
    path = sys.argv[1]
    con = duckdb.connect(path, read_only=True)
    for line in sys.stdin:
        if line.strip() == "reconnect":
            con.close()
            con = duckdb.connect(path, read_only=True)
        print(con.execute("select count(*) from ml.topics").fetchone()[0], flush=True)
""")


def _add_topic(settings: Settings, topic_id: int) -> None:
    with connect(settings) as con:
        con.execute("insert into ml.topics values (?, '1', 'k', 1)", [topic_id])


def _topics(settings: Settings) -> int:
    with duckdb.connect(str(settings.published_warehouse_path), read_only=True) as con:
        return con.execute("select count(*) from ml.topics").fetchone()[0]


def test_a_first_night_starts_an_empty_warehouse_and_publishes_it(settings):
    night = settings.for_night("manual__2026-03-02T00:00:00+00:00")
    assert night.warehouse_path == settings.data_dir / "nights" / night.night / "warehouse.duckdb"
    begin_night(night)
    _add_topic(night, 0)
    assert not settings.published_warehouse_path.exists()
    publish_night(night)
    assert _topics(settings) == 1
    assert not (settings.data_dir / "nights" / night.night).exists()
    assert not wal_path(settings.published_warehouse_path).exists()


def test_a_rerun_night_starts_from_the_published_state(settings):
    night = settings.for_night("run")
    begin_night(night)
    _add_topic(night, 0)
    publish_night(night)
    begin_night(night)
    _add_topic(night, 1)  # then the night fails: never published
    begin_night(night)
    with connect(night) as con:
        assert con.execute("select count(*) from ml.topics").fetchone()[0] == 1


def test_a_step_without_a_working_copy_fails_rather_than_start_an_empty_one(settings):
    with pytest.raises(FileNotFoundError, match="begin_night"), connect(settings.for_night("never_begun")):
        pass


def test_a_reader_holding_the_warehouse_never_blocks_a_night_nor_sees_half_of_one(settings):
    first = settings.for_night("first")
    begin_night(first)
    _add_topic(first, 0)
    publish_night(first)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(settings.published_warehouse_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(line: str = "query") -> int:
        reader.stdin.write(line + "\n")
        reader.stdin.flush()
        return int(reader.stdout.readline())

    try:
        assert ask() == 1
        second = settings.for_night("second")
        begin_night(second)
        _add_topic(second, 1)
        assert ask() == 1
        publish_night(second)
        assert ask() == 1  # the held connection keeps the night it opened
        assert ask("reconnect") == 2  # a new one sees the new night whole
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)


def test_each_night_keeps_the_warehouse_it_replaced_and_only_the_newest_backups(settings):
    kept = settings.model_copy(update={"backup_nights": 2})
    for night in range(4):
        tonight = kept.for_night(f"manual__night-{night}")
        begin_night(tonight)
        _add_topic(tonight, night)
        publish_night(tonight)
    backups = sorted(p.name for p in kept.backups_dir.iterdir())
    assert backups == ["warehouse_manual__night-2.duckdb", "warehouse_manual__night-3.duckdb"]
    with duckdb.connect(str(kept.backups_dir / backups[-1]), read_only=True) as con:
        assert con.execute("select count(*) from ml.topics").fetchone()[0] == 3  # before night 3
    assert _topics(kept) == 4


def test_dbt_opens_every_nights_working_copy_through_one_link_and_never_another_nights(settings):
    """The path in dbt's profile is the same every night (so its partial parsing stays warm),
    and leads only to the night asking for it."""
    failed, next_night = settings.for_night("manual__failed"), settings.for_night("manual__next")
    begin_night(failed)
    path = dbt_warehouse_path(failed)
    assert path == settings.data_dir / "nights" / "current" / "warehouse.duckdb"
    assert path.resolve() == failed.warehouse_path.resolve()
    begin_night(next_night)
    assert dbt_warehouse_path(next_night) == path
    assert path.resolve() == next_night.warehouse_path.resolve()
    with pytest.raises(FileNotFoundError, match=r"leads to .*manual__next"):
        dbt_warehouse_path(failed)  # a retried task of the failed night: not the next one's copy
    publish_night(next_night)
    assert not settings.current_night_link.is_symlink()
    with pytest.raises(FileNotFoundError, match=r"leads to nothing.*begin_night"):
        dbt_warehouse_path(next_night)  # published: the night has no working copy left
    assert dbt_warehouse_path(settings) == settings.published_warehouse_path


def test_dbt_never_starts_on_a_removed_working_copy(settings):
    night = settings.for_night("manual__removed")
    begin_night(night)
    night.warehouse_path.unlink()
    with pytest.raises(FileNotFoundError, match="copy is missing"):
        dbt_warehouse_path(night)


def test_duckdb_writes_its_log_beside_the_working_copy_when_opened_through_the_link(settings):
    night = settings.for_night("manual__wal")
    begin_night(night)
    with duckdb.connect(str(dbt_warehouse_path(night))) as con:
        con.execute("create table t as select 1 as x")
        assert wal_path(night.warehouse_path).exists()  # in nights/<run>/, not beside the link
    with connect(night) as con:
        assert con.execute("select x from t").fetchone() == (1,)


def test_no_run_may_be_named_like_the_link_to_the_running_night(settings):
    with pytest.raises(ValueError, match="link to the running night"):
        settings.for_night("current")
