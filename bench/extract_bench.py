"""Extract throughput: a GBK mapped export (transcoded as a stream) against the baseline of
the same communications as a UTF-8 generic CSV, loaded in the same run.

    .venv/bin/python bench/extract_bench.py --rows 200000

Writes a Markdown table to stdout (docs/extract-bench.md keeps a run's result).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from crm_followups.core.settings import Settings
from crm_followups.extract.load import load_exports

MAPPING = """\
encoding: gb18030
timestamp_format: "%Y/%m/%d %H:%M:%S"
timezone: Asia/Shanghai
objects:
  communications:
    files: "calls*.csv"
    columns: {communication_id: 编号, customer_id: 客户, channel: 方式, direction: 方向,
              occurred_at: 时间, body: 内容}
    channels: {电话: phone, 微信: chat}
    directions: {呼入: inbound, 呼出: outbound}
"""


def write_exports(baseline: Settings, transcoded: Settings, rows: int) -> tuple[Path, Path]:
    """The same communications twice, each in its own inbox: canonical UTF-8 CSV, and a
    GB18030 mapped CSV."""
    generic = baseline.exports_dir / "generic" / "communications_bench.csv"
    mapped = transcoded.exports_dir / "mapped" / "bench" / "calls_bench.csv"
    generic.parent.mkdir(parents=True)
    mapped.parent.mkdir(parents=True)
    (mapped.parent / "mapping.yml").write_text(MAPPING, encoding="utf-8")
    body = "'客户来电询问年度套餐价格，希望下周给报价；预算有限。The customer asked about pricing. #' || i"
    with duckdb.connect() as con:
        con.execute(f"""create table c as select 'M' || i as id, 'C' || (i % 5000) as customer,
                          case when i % 2 = 0 then '电话' else '微信' end as channel,
                          case when i % 3 = 0 then '呼出' else '呼入' end as direction,
                          timestamp '2026-01-01' + to_seconds(i) as ts, {body} as body
                        from range({rows}) t(i)""")
        con.execute(f"""copy (select id as communication_id, customer as customer_id,
                                     case channel when '电话' then 'phone' else 'chat' end as channel,
                                     case direction when '呼出' then 'outbound' else 'inbound' end
                                         as direction,
                                     strftime(ts, '%Y-%m-%dT%H:%M:%S+08:00') as occurred_at,
                                     '' as subject, body, '' as agent_id, '' as label from c)
                        to '{generic}' (header)""")
        utf8 = mapped.with_suffix(".utf8")
        con.execute(f"""copy (select id as 编号, customer as 客户, channel as 方式, direction as 方向,
                                     strftime(ts, '%Y/%m/%d %H:%M:%S') as 时间, body as 内容 from c)
                        to '{utf8}' (header)""")
    with utf8.open(encoding="utf-8") as src, mapped.open("w", encoding="gb18030") as dst:
        shutil.copyfileobj(src, dst)
    utf8.unlink()
    return generic, mapped


def timed_load(settings: Settings) -> tuple[float, int]:
    """Seconds to load the inbox, and rows loaded."""
    start = time.perf_counter()
    summary = load_exports(settings)
    return time.perf_counter() - start, int(summary.as_dict()["rows_loaded"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        baseline = Settings(data_dir=Path(tmp) / "baseline", file_settle_seconds=0)
        transcoded = Settings(data_dir=Path(tmp) / "transcoded", file_settle_seconds=0)
        generic, mapped = write_exports(baseline, transcoded, args.rows)
        sizes = {"generic": generic.stat().st_size, "mapped": mapped.stat().st_size}
        base_s, base_rows = timed_load(baseline)
        gbk_s, gbk_rows = timed_load(transcoded)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| export | rows loaded | file MB | seconds | rows/s |\n|---|---|---|---|---|")
    print(f"| generic UTF-8 CSV (baseline) | {base_rows} | {sizes['generic'] / 1e6:.1f} | {base_s:.2f} | "
          f"{base_rows / base_s:,.0f} |")
    print(f"| mapped GB18030 CSV (transcoded) | {gbk_rows} | {sizes['mapped'] / 1e6:.1f} | {gbk_s:.2f} | "
          f"{gbk_rows / gbk_s:,.0f} |")
    print(f"\npeak RSS of the whole run (generation included): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
