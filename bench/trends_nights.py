"""Time the trends step alone, in process, over consecutive nights with nothing new, on the
100k warehouse of `make bench` (3,490 customers x 180 days, seed 13) without a whole night:
the export is loaded and built by dbt once, and stand-in sentiment scores (a hash of the id)
take the place of the sentiment model so that the negative-share series are modelled too.

    PYTHONPATH=$PWD .venv/bin/python bench/trends_nights.py /tmp/trends-100k --nights 3

The warehouse is built on the first call and copied aside (``<folder>.base``); every call
starts from that copy, so runs of two checkouts (``PYTHONPATH=<checkout>``) can be alternated.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import time
from pathlib import Path

from crm_followups.core.settings import Settings
from crm_followups.core.warehouse import connect
from crm_followups.extract.load import load_exports
from crm_followups.followups.rules import load_rules
from crm_followups.sample.generate import write_export
from crm_followups.transform.dbt_runner import build_warehouse
from ml.trends import forecast_trends

RUN_DATE = dt.date(2026, 3, 2)
CUSTOMERS, DAYS, SEED = 3_490, 180, 13

STAND_IN_SENTIMENT = """
insert into ml.communication_scores (source_system, communication_id, sentiment, scored_at)
select source_system, communication_id, (hash(communication_id) % 1000) / 500.0 - 1, now()
from marts.fct_communications where direction = 'inbound'"""


def build_base(base: Path) -> None:
    """Export, extract and dbt build of the 100k sample, with stand-in sentiment scores."""
    settings = Settings(data_dir=base, file_settle_seconds=0)
    settings.ensure_dirs()
    write_export(settings.exports_dir / "generic", RUN_DATE, customers=CUSTOMERS, days=DAYS, seed=SEED)
    load_exports(settings)
    build_warehouse(settings)
    with connect(settings) as con:
        con.execute(STAND_IN_SENTIMENT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="data folder of the runs (replaced)")
    parser.add_argument("--nights", type=int, default=3, help="the first night, then nights with nothing new")
    args = parser.parse_args()
    base = args.folder.with_name(args.folder.name + ".base")
    if not base.exists():
        build_base(base)
    shutil.rmtree(args.folder, ignore_errors=True)
    shutil.copytree(base, args.folder)
    settings, rules = Settings(data_dir=args.folder), load_rules()
    for night in range(args.nights):
        as_of = RUN_DATE + dt.timedelta(days=night)
        start = time.perf_counter()
        result = forecast_trends(settings, as_of, rules.negative_sentiment_below,
                                 rules.engagement.test_thresholds())
        print(f"{as_of} {time.perf_counter() - start:.2f} s {result}", flush=True)


if __name__ == "__main__":
    main()
