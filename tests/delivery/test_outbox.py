"""The outbox CSV is opened in spreadsheets: no cell of it may run as a formula."""

from __future__ import annotations

import csv
import datetime as dt

import pandas as pd

from crm_followups.delivery.outbox import write_outbox

PAYLOADS = ['=HYPERLINK("http://x","y")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)",
            "\t=1+1", "\r=1+1"]


def test_formula_payloads_are_quoted_in_every_text_column_and_numbers_stay_numbers(settings):
    tasks = pd.DataFrame({
        "FollowupId": ["f1", "f2", "f3", "f4", "f5", "f6"],
        "CustomerId": PAYLOADS,
        "CustomerOwnerId": list(reversed(PAYLOADS)),
        "Subject": ["[P1] Purchase intent: Ann", None, "a = b", "x", "y", "z"],
        "Score": [0.91, -0.5, 0.1, 0.2, 0.3, 0.4],
        "Priority": [1, 2, 3, 1, 2, 3],
    })
    path = write_outbox(settings, dt.date(2026, 3, 2), tasks)
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))

    assert [r["CustomerId"] for r in rows] == ["'" + p for p in PAYLOADS]
    assert [r["CustomerOwnerId"] for r in rows] == ["'" + p for p in reversed(PAYLOADS)]
    assert [r["Subject"] for r in rows] == ["[P1] Purchase intent: Ann", "", "a = b", "x", "y", "z"]
    assert [r["Score"] for r in rows] == ["0.91", "-0.5", "0.1", "0.2", "0.3", "0.4"]
    assert [r["Priority"] for r in rows] == ["1", "2", "3", "1", "2", "3"]
    assert tasks["CustomerId"].tolist() == PAYLOADS  # the caller's frame is not changed
