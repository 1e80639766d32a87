"""Public labelled customer queries (banking77) as a canonical export, so the benchmarks and
tests feed real data through the product exactly as a CRM export would bring it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

BANKING77 = Path(__file__).resolve().parents[3] / "shared" / "data" / "banking77" / "train.csv"


def queries_as_export(texts: pd.Series, labels: pd.Series) -> pd.DataFrame:
    """Each query as an inbound chat or e-mail of the generic export (``body`` = text,
    ``label`` = intent), with made-up customers, one minute apart from 2026-01-01 UTC."""
    n = len(texts)
    return pd.DataFrame({
        "communication_id": [f"b77-{i:05d}" for i in range(n)],
        "customer_id": [f"cust-{i % 997:03d}" for i in range(n)],
        "channel": np.where(np.arange(n) % 2 == 0, "chat", "email"),
        "direction": "inbound",
        "occurred_at": pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), unit="min"),
        "subject": "", "body": texts.to_numpy(), "agent_id": None, "label": labels.to_numpy(),
    })


def in_held_out_fifth(text: str) -> bool:
    """A fixed fifth of the queries by a hash of the text: the same in any run and row order."""
    return int(hashlib.md5(text.encode()).hexdigest(), 16) % 5 == 0


def banking77_export(data: Path = BANKING77, hold_out: bool = False) -> pd.DataFrame:
    """banking77's queries as an export; with ``hold_out``, the held-out fifth goes without its
    label, and ``truth`` (not an export column: drop it before writing) keeps every intent."""
    queries = pd.read_csv(data)
    export = queries_as_export(queries["text"], queries["category"])
    if hold_out:
        export["label"] = export["label"].where(~queries["text"].map(in_held_out_fifth))
        export["truth"] = queries["category"].to_numpy()
    return export
