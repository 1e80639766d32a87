"""Benchmark: the real ``crm_nightly`` DAG (``dag.test`` through ``run_nightly``, as ``make run``
does) on generated exports of 100k and 1M communications, against the floor (DuckDB reading the
export) and the naive script (bench/naive_script.py). Writes docs/benchmarks.md.

    make bench                         # SIZES=100k,1M; about 5 min on 2 quiet cores (1M: 3)
    .venv/bin/python bench/nightly.py --sizes 100k --profile

Per size, in a fresh data folder: a first night (training included), a night with nothing new
(the next date, no new file) and a night with 1% new communications (one more export file of
genuinely new rows). Each night runs in its own process (Airflow reads AIRFLOW_HOME once, on
import), whose whole process tree is sampled for PSS every 0.2 s. ``--profile`` runs the
nothing-new and 1% nights under py-spy and writes where their time goes.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
import psutil

from crm_followups.core.settings import Settings
from crm_followups.sample.generate import write_export, write_new_communications

REPO = Path(__file__).resolve().parents[1]
RUN_DATE = dt.date(2026, 3, 2)  # the first night; the export ends the day before
DAYS = 180
SEED, NEW_SEED = 13, 1313
# customers giving about this many communications over 180 days (3,490 -> 100,737 rows)
CUSTOMERS = {"10k": 349, "100k": 3_490, "1M": 34_900}
NEW_SHARE = 0.01
SAMPLE_SECONDS = 0.2
SCORING_STEPS = ("score_snapshot", "score_partition", "score_merge")
PROFILE_RATE = 20  # py-spy samples per second: enough for a minutes-long night
PROFILE_TOP = 15
NIGHTS = ("first", "nothing new", "1% new")
# the 1M measurement (before this bench existed), quoted until `make bench SIZES=1M` runs
PREVIOUS_1M = """\
Previous measurement (issue #13), 1,015,741 communications (41,000 customers x 180 days, an
older generator), 2 shared cores, not taken by this bench:
- floor (DuckDB reading the file): 1.05 s; naive script: 22.7 s, 66,600 communications/s, 1.1 GB;
- first night: extract 11.5 s, dbt task group (42 tasks) 82 s, training still running after 30 min;
- nothing new: 331 s of task time: extract 5.4 s, dbt 85 s, scoring 531k inbound in four
  partitions 203 s (2,600/s), trends 24 s, follow-ups 5 s;
- 1% new (11k): 165 s of task time: dbt 99 s, trends 24.5 s, scoring 19 s.
"""


# --- one night, in its own process --------------------------------------------------------

def night_settings(data_dir: Path) -> Settings:
    """The bench's nights: no retries (fail fast), files written just now load at once."""
    return Settings(data_dir=data_dir, task_retries=0, file_settle_seconds=0)


def child_environment(data_dir: Path) -> dict[str, str]:
    """The night process's environment: Airflow and the product pointed at the bench's folder."""
    settings = night_settings(data_dir)
    return {**os.environ, **settings.airflow_env(), "CRM_TASK_RETRIES": "0",
            "CRM_FILE_SETTLE_SECONDS": "0", "PYTHONPATH": str(REPO)}


def step_times(run_id: str) -> dict[str, dict[str, float | int]]:
    """Per step (a dbt group or mapped partitions as one): busy seconds (tasks' durations
    summed), span (first start to last end) and task count, in the order the steps started."""
    from airflow.utils.session import create_session

    from crm_followups.cli.metadata import task_records

    with create_session() as session:
        # tasks that ran: not the dbt tasks a night with nothing new for dbt skipped
        records = [r for r in task_records(session, run_id) if r.start and r.end and r.state != "skipped"]
    steps: dict[str, dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: r.start):
        step = steps.setdefault(record.step,
                                {"busy": 0.0, "start": record.start, "end": record.end, "tasks": 0})
        step["busy"] += (record.end - record.start).total_seconds()
        step["end"], step["tasks"] = max(step["end"], record.end), step["tasks"] + 1
    return {name: {"busy": s["busy"], "span": (s["end"] - s["start"]).total_seconds(), "tasks": s["tasks"]}
            for name, s in steps.items()}


def run_one_night(data_dir: Path, date: dt.date, result_file: Path) -> None:
    """Set up (idempotent, not timed), run the night, write its timings and step results."""
    from crm_followups.cli.nightly import run_nightly
    from crm_followups.cli.stack import set_up

    settings = night_settings(data_dir)
    set_up(settings)
    started = time.perf_counter()
    results = run_nightly(settings, date)
    wall = time.perf_counter() - started
    result_file.write_text(json.dumps({"wall": wall, "steps": step_times(results["extract"]["batch_id"]),
                                       "results": results}, default=str))


# --- measuring a process tree ----------------------------------------------------------------

@dataclass
class PeakMemory:
    """Peak PSS of the largest process and of the whole tree under ``root``, sampled in a thread."""

    root: int
    largest: int = 0
    tree: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _pss(self) -> list[int]:
        try:
            processes = [psutil.Process(self.root), *psutil.Process(self.root).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        sizes = []
        for process in processes:
            try:
                sizes.append(process.memory_full_info().pss)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return sizes

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            if sizes := self._pss():
                self.largest, self.tree = max(self.largest, max(sizes)), max(self.tree, sum(sizes))
                self.samples += 1

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def measured_process(command: list[str], env: dict[str, str], log_file: Path) -> tuple[float, PeakMemory]:
    """Run ``command`` to the end, its output to ``log_file``; its wall time and peak memory.
    A failure names the command and the log to read."""
    started = time.perf_counter()
    with log_file.open("w") as log, subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                     cwd=REPO) as process, PeakMemory(process.pid) as memory:
        code = process.wait()
    if code:
        raise RuntimeError(f"{' '.join(command[:4])} ... exited {code}: see {log_file}")
    return time.perf_counter() - started, memory


# --- the bench --------------------------------------------------------------------------------

@dataclass
class Night:
    name: str
    date: dt.date
    wall: float
    process_wall: float
    largest_pss: int
    tree_pss: int
    steps: dict[str, dict[str, float | int]]
    results: dict[str, Any]
    profile: str | None = None  # the raw py-spy stacks, when profiled

    @property
    def train_seconds(self) -> float:
        return float(self.steps.get("train", {}).get("busy", 0.0))

    @property
    def scored(self) -> int:
        return int(self.results.get("score_merge", {}).get("scored", 0))

    @property
    def scoring_seconds(self) -> float:
        return sum(float(self.steps.get(s, {}).get("busy", 0.0)) for s in SCORING_STEPS)

    @property
    def partitions(self) -> int:
        return int(self.steps.get("score_partition", {}).get("tasks", 0))


@dataclass
class SizeResult:
    label: str
    customers: int
    communications: int
    new_rows: int
    csv_bytes: int
    floor_seconds: float
    naive: dict[str, float | int]
    naive_largest_pss: int
    nights: list[Night]


def profile_command(command: list[str], out: Path) -> list[str]:
    """``command`` under py-spy: sampled from outside, child processes included, not paused."""
    return [str(Path(sys.executable).parent / "py-spy"), "record", "--rate", str(PROFILE_RATE),
            "--format", "raw", "--nolineno", "--subprocesses", "--nonblocking", "--output", str(out),
            "--", *command]


@dataclass
class Profile:
    """Where a night's samples were: by function inclusive (its stack holds it) and by leaf."""

    inclusive: list[tuple[str, float]]
    leaves: list[tuple[str, float]]


def read_profile(raw_profile: Path) -> Profile:
    """py-spy's raw stacks, as shares of all samples. Airflow's task-running frames and thread
    plumbing hold every sample: left out, so what remains names the work."""
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw_profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames or not count.isdigit():
            continue
        total += int(count)
        leaves[frames[-1]] += int(count)
        for frame in set(frames):
            if _names_work(frame):
                inclusive[frame] += int(count)
    return Profile(*([(f, n / max(total, 1)) for f, n in counts.most_common(PROFILE_TOP)]
                     for counts in (inclusive, leaves)))


def _names_work(frame: str) -> bool:
    plumbing = ("(airflow/", "(threading.py)", "(multiprocessing/", "(concurrent/", "(runpy.py)",
                "(nightly.py)", "(<frozen ")
    return not any(p in frame for p in plumbing)


def run_night(name: str, data_dir: Path, date: dt.date, work: Path, profile: bool) -> Night:
    print(f"  night '{name}' for {date} ...", flush=True)
    result_file = work / f"night-{date}.json"
    command = [sys.executable, __file__, "--night", str(data_dir), str(date), str(result_file)]
    raw_profile = work / f"profile-{date}.txt"
    if profile:
        command = profile_command(command, raw_profile)
    process_wall, memory = measured_process(command, child_environment(data_dir), work / f"night-{date}.log")
    result = json.loads(result_file.read_text())
    night = Night(name, date, result["wall"], process_wall, memory.largest, memory.tree, result["steps"],
                  result["results"], str(raw_profile) if profile else None)
    print(f"    {night.wall:.1f} s (process {process_wall:.1f} s), peak PSS tree "
          f"{memory.tree / 2**20:.0f} MiB, scored {night.scored}", flush=True)
    return night


def floor_seconds(files: list[Path]) -> float:
    """DuckDB reading the export files (what any load costs at least)."""
    listed = ", ".join(f"'{f}'" for f in files)
    started = time.perf_counter()
    with duckdb.connect() as con:
        con.execute(f"select count(*) from read_csv([{listed}], ignore_errors = true)").fetchone()
    return time.perf_counter() - started


def run_naive(files: list[Path], work: Path) -> tuple[dict[str, float | int], int]:
    command = [sys.executable, str(REPO / "bench" / "naive_script.py"), str(work / "naive.parquet"),
               *map(str, files)]
    log_file = work / "naive.log"
    _, memory = measured_process(command, {**os.environ, "PYTHONPATH": str(REPO)}, log_file)
    return json.loads(log_file.read_text().strip().splitlines()[-1]), memory.largest


def bench_size(label: str, work_root: Path, profile: bool) -> SizeResult:
    customers = CUSTOMERS[label]
    work = work_root / label
    data_dir = work / "data"
    data_dir.mkdir(parents=True)
    inbox = data_dir / "exports" / "generic"
    print(f"{label}: writing the export ({customers} customers x {DAYS} days, seed {SEED}) ...", flush=True)
    export = write_export(inbox, RUN_DATE, customers, DAYS, SEED)
    floor = floor_seconds([export.communications])
    print(f"  {export.rows} communications; floor {floor:.2f} s; naive script ...", flush=True)
    naive, naive_pss = run_naive([export.communications], work)
    print(f"  naive {naive['seconds']:.1f} s, {naive['scored']} inbound scored", flush=True)
    nights = [run_night("first", data_dir, RUN_DATE, work, False),
              run_night("nothing new", data_dir, RUN_DATE + dt.timedelta(days=1), work, profile)]
    new_date = RUN_DATE + dt.timedelta(days=2)
    new_rows = round(export.rows * NEW_SHARE)
    write_new_communications(inbox, new_date, customers, new_rows, NEW_SEED)
    nights.append(run_night("1% new", data_dir, new_date, work, profile))
    return SizeResult(label, customers, export.rows, new_rows, export.communications.stat().st_size, floor,
                      naive, naive_pss, nights)


# --- the report -------------------------------------------------------------------------------

def _commit() -> str:
    """The checkout's commit, marked when files differ from it: which code a report measured."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()
    changed = " (with local changes)" if git("status", "--porcelain") else ""
    return git("rev-parse", "--short", "HEAD") + changed


def machine() -> dict[str, str]:
    packages = ("apache-airflow", "dbt-core", "dbt-duckdb", "astronomer-cosmos", "duckdb", "mlflow",
                "scikit-learn", "pandas")
    return {"run started": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}",
            "cores": str(os.cpu_count()), "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
            "python": platform.python_version(), "platform": platform.platform(),
            "load average (1, 5, 15 min) at start": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
            **{p: version(p) for p in packages}}


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


def _s(seconds: float) -> str:
    return f"{seconds:,.1f}"


def _files(extract: dict[str, Any]) -> str:
    return f"{extract['files_loaded']} / {extract.get('files_hashed', '?')} / {extract['files_skipped']}"


def _trends(trends: dict[str, Any]) -> str:
    read = trends.get("communications_read")
    return f"{trends.get('refitted', '?')} / {'?' if read is None else f'{read:,}'}"


def _transform(transform: dict[str, Any]) -> str:
    if transform.get("built") is False:
        return "skipped (nothing dbt reads changed)"
    current = f", {transform['current']} tasks current (skipped)" if transform.get("current") else ""
    return (f"built: {transform.get('models', '?')} models, {transform.get('tests', '?')} cross-model tests"
            f"{current}")


def night_table(size: SizeResult) -> list[str]:
    steps: list[str] = []
    for night in size.nights:
        steps += [s for s in night.steps if s not in steps]
    lines = ["| step | " + " | ".join(n.name for n in size.nights) + " |",
             "|---|" + "---:|" * len(size.nights)]
    for step in steps:
        cells = []
        for night in size.nights:
            timing = night.steps.get(step)
            tasks = f" ({timing['tasks']} tasks)" if timing and timing["tasks"] > 1 else ""
            cells.append(f"{_s(timing['busy'])}{tasks}" if timing else "-")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    rows = {
        "**night wall time** (run_nightly)": [_s(n.wall) for n in size.nights],
        "night excluding train": [_s(n.wall - n.train_seconds) for n in size.nights],
        "process wall (with set-up check, imports)": [_s(n.process_wall) for n in size.nights],
        "peak PSS, largest process": [_mib(n.largest_pss) for n in size.nights],
        "peak PSS, whole tree": [_mib(n.tree_pss) for n in size.nights],
        "rows scored": [f"{n.scored:,}" for n in size.nights],
        "scoring steps' time (s)": [_s(n.scoring_seconds) for n in size.nights],
        "scoring throughput (rows/s)": [f"{n.scored / n.scoring_seconds:,.0f}" if n.scored else "-"
                                        for n in size.nights],
        "extract: files loaded / hashed / skipped": [_files(n.results["extract"]) for n in size.nights],
        "transform (transform_due's decision)": [_transform(n.results["transform"]) for n in size.nights],
        "trends: series refitted / communications read": [_trends(n.results["trends"]) for n in size.nights],
        "x floor (wall / floor)": [f"{n.wall / size.floor_seconds:,.0f}x" for n in size.nights],
        "x naive script (wall / naive)": [f"{n.wall / size.naive['seconds']:,.1f}x" for n in size.nights],
    }
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows.items()]
    return lines


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def targets(size: SizeResult) -> list[str]:
    """Point 2's targets, judged where they apply; the 1M ones are indicative at other sizes."""
    first, nothing, new = size.nights
    full = first.wall - first.train_seconds
    partition = new.steps.get("score_partition")
    ready = partition["busy"] / partition["tasks"] if partition else None
    at_1m = size.label == "1M"
    scale_note = "" if at_1m else " (target set for 1M: indicative here)"
    rows = [
        ("full night excl. training <= 120 s", f"{_s(full)} s", _verdict(full <= 120) + scale_note),
        ("1% night <= 15 s", f"{_s(new.wall)} s", _verdict(new.wall <= 15)),
        ("1% night <= 15% of the full night", f"{new.wall / full:.0%}", _verdict(new.wall <= 0.15 * full)),
        ("nothing-new night <= 10 s", f"{_s(nothing.wall)} s", _verdict(nothing.wall <= 10)),
        ("scoring >= 20,000 communications/s", f"{first.scored / first.scoring_seconds:,.0f}/s (first night)"
         if first.scored else "-", _verdict(first.scored >= 20_000 * first.scoring_seconds)),
        ("scoring process ready <= 5 s", f"{_s(ready)} s per partition task on the 1% night (upper bound: "
         "its few rows take little of it)" if ready else "-", _verdict(ready is not None and ready <= 5)),
        ("peak memory < 3 GB", f"{_mib(max(n.tree_pss for n in size.nights))} (tree PSS)",
         _verdict(max(n.tree_pss for n in size.nights) < 3e9) + scale_note),
        ("first night incl. training <= 5 min", f"{_s(first.wall)} s",
         _verdict(first.wall <= 300) + scale_note),
    ]
    return ["| target (issue #13 point 2) | measured | |", "|---|---|---|",
            *[f"| {t} | {m} | {v} |" for t, m, v in rows]]


def profile_section(size: SizeResult) -> list[str]:
    lines = []
    for night in size.nights:
        if night.profile:
            profile = read_profile(Path(night.profile))
            lines += [f"**{night.name}** (py-spy, {PROFILE_RATE} samples/s; Airflow's own frames left out):",
                      "", "| share of samples in | function (file) | | share of samples at | leaf function |",
                      "|---:|---|---|---:|---|"]
            lines += [f"| {a:.0%} | `{fa}` | | {b:.0%} | `{fb}` |"
                      for (fa, a), (fb, b) in zip(profile.inclusive, profile.leaves, strict=False)] + [""]
    return lines


def size_section(size: SizeResult) -> list[str]:
    return [
        f"## {size.label}: {size.communications:,} communications", "",
        f"{size.customers:,} customers x {DAYS} days, seed {SEED} "
        f"(`crm-followups sample --customers {size.customers} --days {DAYS} --seed {SEED} "
        f"--run-date {RUN_DATE}`), {size.csv_bytes / 1e6:,.0f} MB CSV; the 1% night adds "
        f"{size.new_rows:,} new communications (seed {NEW_SEED}). Step times are the task instances' "
        "durations from Airflow's metadata DB, summed over a step's tasks.", "",
        f"- floor, DuckDB `count(*)` over `read_csv` of the export: {_s(size.floor_seconds)} s",
        f"- naive script (bench/naive_script.py: pandas + TF-IDF + LR, {size.naive['labelled']:,} labelled, "
        f"{size.naive['scored']:,} inbound predicted, Parquet): {_s(float(size.naive['seconds']))} s, "
        f"{size.naive['scored'] / float(size.naive['seconds']):,.0f} inbound predicted per second of the "
        "whole script, peak PSS "
        f"{_mib(size.naive_largest_pss)}", "",
        *night_table(size), "", "### Targets", "", *targets(size), "",
        *(["### Where the time goes", "", *profile_section(size)]
          if any(n.profile for n in size.nights) else []),
    ]


def write_report(out: Path, sizes: list[SizeResult], about: dict[str, str]) -> None:
    lines = [
        "# Nightly benchmark (`make bench`)", "",
        "Written by `bench/nightly.py` (`make bench SIZES=100k,1M`); every run overwrites it. The real "
        "`crm_nightly` DAG runs through `run_nightly` (`dag.test`, as `make run`) on generated exports, "
        "each night in its own process; memory is the PSS of that process tree sampled every "
        f"{SAMPLE_SECONDS} s (shared pages counted once, not summed RSS). The machine is shared with "
        "other jobs: the load average below says how busy it was, and times vary with it. What the "
        "figures mean, the gaps to the targets and why: [benchmark-findings.md](benchmark-findings.md) "
        "(written by hand, dated).", "",
        "| machine | |", "|---|---|", *[f"| {k} | {v} |" for k, v in about.items()], "",
        *[line for size in sizes for line in size_section(size)],
    ]
    if "1M" not in {s.label for s in sizes}:
        lines += ["## 1M", "", "Not recorded by this run: `make bench SIZES=1M` (about 4 minutes on 2 "
                  "quiet cores, a third of it the first night's training).", "", PREVIOUS_1M]
    out.write_text("\n".join(lines).rstrip() + "\n")


def _saved_night(night: dict[str, Any], work: Path) -> Night:
    raw_profile = work / f"profile-{night['date']}.txt"
    return Night(**{**night, "date": dt.date.fromisoformat(night["date"]),
                    "profile": str(raw_profile) if raw_profile.exists() else None})


def read_results(path: Path) -> tuple[dict[str, str], list[SizeResult]]:
    """A run's saved measurements (``results.json`` in its work dir), to report them again."""
    saved = json.loads(path.read_text())
    sizes = [SizeResult(**{**size, "nights": [_saved_night(night, path.parent / size["label"])
                                              for night in size["nights"]]})
             for size in saved["sizes"]]
    return saved["machine"], sizes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100k,1M", help=f"comma-separated, of {', '.join(CUSTOMERS)}")
    parser.add_argument("--profile", action="store_true",
                        help="run the nothing-new and 1%% nights under py-spy")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--work-dir", type=Path, help="where the data folders go (default: a new temp dir)")
    parser.add_argument("--from-results", type=Path, metavar="RESULTS_JSON",
                        help="only rewrite the report from a run's saved results.json (no nights run)")
    parser.add_argument("--night", nargs=3, metavar=("DATA_DIR", "DATE", "RESULT"), help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.night:
        data_dir, date, result = args.night
        run_one_night(Path(data_dir), dt.date.fromisoformat(date), Path(result))
        return
    if args.from_results:
        about, sizes = read_results(args.from_results)
        write_report(args.out, sizes, about)
        print(f"wrote {args.out} from {args.from_results}", flush=True)
        return
    labels = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if unknown := set(labels) - set(CUSTOMERS):
        raise SystemExit(f"--sizes: unknown size(s) {sorted(unknown)}; known: {', '.join(CUSTOMERS)}")
    about, started = machine(), time.perf_counter()
    work_root = args.work_dir or Path(tempfile.mkdtemp(prefix="crm-bench-"))
    print(f"bench data under {work_root}", flush=True)
    sizes = [bench_size(label, work_root, args.profile) for label in labels]
    about["load average (1, 5, 15 min) at end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    about["run took"] = f"{(time.perf_counter() - started) / 60:.1f} min"
    # the measurements themselves, beside the data: a report can be re-read from them
    (work_root / "results.json").write_text(json.dumps(
        {"machine": about, "sizes": [dataclasses.asdict(s) for s in sizes]}, default=str, indent=1))
    write_report(args.out, sizes, about)
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
