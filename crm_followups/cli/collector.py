"""Python's cyclic garbage collector in a process that runs nights (``dag.test``).

Such a process holds millions of long-lived objects (Airflow, dbt, MLflow, pydantic models, the
DAG), and every full collection walks all of them: on the bundled sample, 4.5 s of a 20 s
nothing-new ``make run`` went to collections, and 4 s more to the last one at exit
(docs/benchmark-findings.md, fourth round). The night's data lives in Arrow and numpy buffers,
which the collector does not track, so collecting less often costs little memory.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Allocations between two young-generation collections (Python's default: 700). Full
# collections follow every tenth of those, so they become 14 times rarer too.
NIGHT_GEN0_THRESHOLD = 10_000


@contextmanager
def collector_paused() -> Iterator[None]:
    """No collection while the block loads modules, then what it loaded frozen out of the
    collector's reach (``gc.freeze``): later collections skip it."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


@contextmanager
def collector_relaxed() -> Iterator[None]:
    """Fewer collections while the block runs a night: each task imports and allocates
    thousands of objects that live all night (a nothing-new night at 1M: 11.6 -> 9.9 s)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(NIGHT_GEN0_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def skip_collection_at_exit() -> None:
    """The interpreter's last collection would walk every object to free memory the operating
    system takes back anyway: frozen, they are skipped. Registered once however many set-ups."""
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
