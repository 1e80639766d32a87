"""A night writes its own copy of the warehouse and publishes it whole; readers never block it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb
import pytest

from crm_followups.core.nights import begin_night, publish_night, wal_path
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
