"""The collector settings of a night's process are scoped: the process gets its defaults back."""

from __future__ import annotations

import gc

from crm_followups.cli.collector import NIGHT_GEN0_THRESHOLD, collector_paused, collector_relaxed


def test_a_relaxed_collector_collects_less_often_in_the_block_only() -> None:
    before = gc.get_threshold()
    with collector_relaxed():
        assert gc.get_threshold() == (NIGHT_GEN0_THRESHOLD, *before[1:])
    assert gc.get_threshold() == before


def test_what_a_paused_block_loaded_is_frozen_and_the_collector_runs_again() -> None:
    gc.unfreeze()
    try:
        with collector_paused():
            assert not gc.isenabled()
            loaded = [[] for _ in range(1000)]  # stands for a module's objects
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(loaded)
    finally:
        gc.unfreeze()
