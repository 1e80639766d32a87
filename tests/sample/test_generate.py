import datetime as dt

import pandas as pd

from crm_followups.sample.generate import generate, write_export

RUN_DATE = dt.date(2026, 3, 2)


def test_same_seed_same_export():
    first, second = generate(RUN_DATE, customers=30, days=20), generate(RUN_DATE, customers=30, days=20)
    pd.testing.assert_frame_equal(first[1], second[1])
    pd.testing.assert_frame_equal(first[0], second[0])


def test_export_ends_the_day_before_the_run_date_and_covers_the_days():
    _, comms = generate(RUN_DATE, customers=50, days=30)
    occurred = pd.to_datetime(comms["occurred_at"], errors="coerce", utc=True, format="ISO8601").dropna()
    assert occurred.max() < pd.Timestamp(RUN_DATE, tz="UTC")
    assert occurred.min() >= pd.Timestamp(RUN_DATE - dt.timedelta(days=31), tz="UTC")


def test_export_is_realistic_and_a_little_dirty():
    customers, comms = generate(RUN_DATE, customers=100, days=60)
    assert customers["customer_id"].is_unique
    assert set(comms["direction"]) == {"inbound", "outbound", "internal"}
    assert {"email", "phone", "chat", "note"} <= set(comms["channel"])
    bodies = comms["body"].astype(str)
    assert bodies.str.contains(r"[\u4e00-\u9fff]").any() and bodies.str.contains(r"[a-z]{4}").any()
    labelled = comms["label"].fillna("") != ""
    assert 0.1 < labelled.mean() < 0.6
    assert comms.duplicated().any(), "duplicate deliveries"
    assert (comms["customer_id"] == "").any() and (comms["communication_id"] == "").any()
    assert pd.to_datetime(comms["occurred_at"], errors="coerce", utc=True, format="ISO8601").isna().any()


def test_weekdays_are_busier_than_weekends():
    _, comms = generate(RUN_DATE, customers=200, days=56)
    inbound = comms[comms["direction"] == "inbound"]
    day = pd.to_datetime(inbound["occurred_at"], errors="coerce", utc=True, format="ISO8601").dt.dayofweek
    per_day = day.value_counts()
    assert per_day[[0, 1, 2]].min() > 2 * per_day[[5, 6]].max()


def test_size_follows_the_arguments(tmp_path):
    small = write_export(tmp_path / "small", RUN_DATE, customers=20, days=10)
    large = write_export(tmp_path / "large", RUN_DATE, customers=200, days=10)
    assert large.rows > 5 * small.rows
    assert small.customers.read_text().count("\n") == 21
