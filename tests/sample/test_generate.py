import datetime as dt

import pandas as pd

from crm_followups.core.settings import Settings
from crm_followups.extract.load import load_exports
from crm_followups.sample import phrases as txt
from crm_followups.sample.generate import PLANTED_FILE, generate, generate_with_truth, write_export

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


def _inbound_per_customer(comms: pd.DataFrame, since: dt.date, until: dt.date) -> pd.Series:
    when = pd.to_datetime(comms["occurred_at"], errors="coerce", utc=True, format="ISO8601")
    inside = (comms["direction"] == "inbound") & (when >= pd.Timestamp(since, tz="UTC")) \
        & (when < pd.Timestamp(until, tz="UTC"))
    return comms[inside].drop_duplicates("communication_id").groupby("customer_id").size()


def test_planted_decliners_fade_and_spikers_burst_the_same_for_the_same_seed():
    _, comms, planted = generate_with_truth(RUN_DATE, customers=500, days=120)
    _, _, again = generate_with_truth(RUN_DATE, customers=500, days=120)
    pd.testing.assert_frame_equal(planted, again)
    assert planted["signal"].value_counts().to_dict() == {"declining": 15, "spike": 10}
    last_four_weeks = _inbound_per_customer(comms, RUN_DATE - dt.timedelta(days=28), RUN_DATE)
    before_any_decline = RUN_DATE - dt.timedelta(days=42)
    earlier = _inbound_per_customer(comms, RUN_DATE - dt.timedelta(days=120), before_any_decline)
    last_days = _inbound_per_customer(comms, RUN_DATE - dt.timedelta(days=4), RUN_DATE)
    decliners = planted.loc[planted["signal"] == "declining", "customer_id"]
    spikers = planted.loc[planted["signal"] == "spike", "customer_id"]
    recent_rate = last_four_weeks.reindex(decliners, fill_value=0) / 28
    assert (recent_rate < 0.5 * earlier.reindex(decliners) / 78).mean() > 0.9
    assert last_days.reindex(spikers, fill_value=0).median() >= 5 > last_days.median()


def test_decliners_last_messages_are_complaints_or_cancellations():
    _, comms, planted = generate_with_truth(RUN_DATE, customers=500, days=120)
    decliners = planted.loc[planted["signal"] == "declining", "customer_id"]
    inbound = comms[(comms["direction"] == "inbound") & comms["customer_id"].isin(decliners)
                    & comms["communication_id"].str.fullmatch(r"M\d+")]  # no dirty copies
    when = pd.to_datetime(inbound["occurred_at"], utc=True, format="ISO8601")
    last_three = inbound.assign(when=when).sort_values("when").groupby("customer_id").tail(3)
    leaving = [pair for lang in txt.CORES.values() for intent in ("complaint", "cancellation")
               for pair in lang[intent]]
    said = last_three["body"].map(lambda body: any(before in body and after in body
                                                   for before, after in leaving))
    assert len(last_three) == 3 * len(decliners) and said.all()


def test_the_ground_truth_lies_beside_the_export_and_is_not_loaded(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    settings.ensure_dirs()
    export = write_export(settings.exports_dir / "generic", RUN_DATE, customers=100, days=90)
    assert export.planted == settings.exports_dir / "generic" / PLANTED_FILE
    assert set(pd.read_csv(export.planted).columns) == {"customer_id", "signal", "changed_on"}
    loaded = {result.path for result in load_exports(settings).files}
    assert loaded == {export.customers, export.communications}
