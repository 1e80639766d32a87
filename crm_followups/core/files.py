"""Files that other people or programs pick up (the outbox CSV, the report) appear whole or
not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Write through ``write(temp_path)`` beside ``path``, then rename over it: a reader never
    sees half a file, and a failed write leaves the previous one in place. The file stays
    readable by its owner only (``mkstemp``'s 0600): it names customers (docs/privacy.md)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(temp))
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
