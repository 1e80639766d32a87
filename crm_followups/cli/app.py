"""The ``crm-followups`` command (also ``python -m crm_followups``).

    crm-followups setup
    crm-followups run [--date D | --from D1 --to D2] [--force-train]
    crm-followups status [--limit N]
    crm-followups followups [--date D] [--csv]
    crm-followups summary [--date D]
    crm-followups sql "select ..."
    crm-followups dbt build --select marts
    crm-followups ui airflow|mlflow|docs [--port N] [--schedule]
    crm-followups sample [--customers N] [--days N] [--seed N] [--run-date D] [--out DIR]

Every command first sets Airflow's environment (``stack.prepare_environment``): Airflow reads
it once, when it is first imported, so nothing here imports Airflow at module level.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from crm_followups.cli.stack import UI_PORTS, prepare_environment, serve_ui, set_up
from crm_followups.core.settings import Settings, utc_today

log = logging.getLogger("crm_followups")

app = typer.Typer(help="Nightly CRM follow-ups: run the pipeline, inspect its runs, read the lists.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _date_option(name: str, help_text: str) -> Any:
    return typer.Option(name, parser=_date, metavar="YYYY-MM-DD", help=help_text)


def _fail(message: str, code: int = 1) -> typer.Exit:
    """Say why on stderr; the caller raises the returned Exit (a non-zero exit code)."""
    typer.echo(message, err=True)
    return typer.Exit(code)


@app.callback()
def _environment(ctx: typer.Context) -> None:
    """Logging a user sees, and Airflow's environment, before any command imports Airflow."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    prepare_environment(settings)
    ctx.obj = settings


@app.command()
def setup(ctx: typer.Context) -> None:
    """Prepare the data folder, Airflow's metadata DB and pool, the warehouse and the dbt manifest."""
    set_up(ctx.obj)


def _nights(date: dt.date | None, first: dt.date | None, last: dt.date | None) -> list[dt.date]:
    """The dates asked for: one ``--date`` (default today) or every date ``--from`` ``--to``."""
    from crm_followups.cli.nightly import dates_between

    if date and (first or last):
        raise typer.BadParameter("give either --date or --from/--to, not both")
    if (first is None) != (last is None):
        raise typer.BadParameter("a range needs both --from and --to")
    if first and last:
        if first > last:
            raise typer.BadParameter(f"--from {first} is after --to {last}")
        return list(dates_between(first, last))
    return [date or utc_today()]


@app.command()
def run(ctx: typer.Context,
        date: Annotated[dt.date | None, _date_option("--date", "the night (default: today, UTC)")] = None,
        first: Annotated[dt.date | None, _date_option("--from", "first night of a backfill")] = None,
        last: Annotated[dt.date | None, _date_option("--to", "last night of a backfill (included)")] = None,
        force_train: Annotated[bool, typer.Option(
            "--force-train", help="train challengers even when champions exist")] = False,
        ) -> None:
    """Set up, then run crm_nightly for a date or a range of dates; ends with the summary.

    A range (--from D1 --to D2) backfills every date in order and stops at the first failed
    night, naming it."""
    from crm_followups.cli.nightly import NightFailedError, backfill
    from crm_followups.delivery.summary import print_summary

    settings: Settings = ctx.obj
    nights = _nights(date, first, last)
    done: list[dt.date] = []

    def after_night(night: dt.date, steps: dict[str, Any]) -> None:
        done.append(night)
        print_summary(settings, night, steps)

    set_up(settings)
    try:
        backfill(settings, nights, force_train, after_night)
    except NightFailedError as exc:
        left = nights[len(done) + 1:]
        raise _fail(f"{exc}" + (f"\nbackfill stopped at {exc.date}: {len(done)} of {len(nights)} nights "
                                f"done; not run: {left[0]} to {left[-1]}" if left else "")) from None


@app.command()
def status(limit: Annotated[int, typer.Option("--limit", "-n", min=1,
                                              help="how many runs, newest first")] = 5) -> None:
    """Recent runs of crm_nightly: each step's state and duration, the failed step's error.

    Read from Airflow's metadata DB (the embedded SQLite under $CRM_DATA_DIR/airflow)."""
    from rich.console import Console
    from sqlalchemy.exc import OperationalError

    from crm_followups.cli.metadata import recent_runs

    try:
        runs = recent_runs(limit)
    except OperationalError as exc:
        raise _fail(f"cannot read Airflow's metadata DB (run `crm-followups setup` first): {exc}") from None
    console = Console()
    if not runs:
        console.print("no runs of crm_nightly yet: `crm-followups run`")
    for night in runs:
        console.print(f"{night.date}  {night.state}  {_seconds(night.seconds)}  ({night.run_id})",
                      soft_wrap=True, highlight=False)
        console.print(_steps_table(night.steps))
        for step in night.steps:
            if step.error:
                console.print(f"{step.name} failed:", style="red")
                console.print(step.error, markup=False, highlight=False, soft_wrap=True)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}s" if value < 120 else f"{value / 60:.1f}min"


def _steps_table(steps: list[Any]) -> Any:
    """A run's steps as a rich table: a row per step."""
    from rich.table import Table

    table = Table()
    for column in ("step", "state", "duration"):
        table.add_column(column)
    for step in steps:
        table.add_row(step.name, step.state or "-", _seconds(step.seconds))
    return table


@app.command()
def followups(ctx: typer.Context,
              date: Annotated[dt.date | None, _date_option(
                  "--date", "default: the latest date in marts.followups")] = None,
              as_csv: Annotated[bool, typer.Option("--csv", help="CSV to stdout instead of tables")] = False,
              ) -> None:
    """A date's open follow-ups by queue, most urgent first."""
    import duckdb

    from crm_followups.core.warehouse import connect
    from crm_followups.delivery.listing import latest_date, open_followups

    settings: Settings = ctx.obj
    try:  # read-write like `summary`: DuckDB allows one configuration per file in a process
        with connect(settings) as con:
            date = date or latest_date(con)
            rows = open_followups(con, date) if date else None
    except duckdb.Error as exc:
        raise _fail(f"{settings.warehouse_path}: {exc}") from None
    if rows is None:
        raise _fail("marts.followups is empty: run `crm-followups run` first")
    if as_csv:
        rows.to_csv(sys.stdout, index=False)
    else:
        _print_queues(date, rows)


def _print_queues(date: dt.date, rows: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"{len(rows)} open follow-ups for {date}", soft_wrap=True, highlight=False)
    for queue, part in rows.groupby("queue", sort=True):
        table = Table(title=f"{queue} ({len(part)})", title_justify="left")
        columns = [c for c in part.columns if c != "queue"]
        for column in columns:
            table.add_column(column)
        for record in part[columns].itertuples(index=False):
            table.add_row(*("" if v is None else str(v) for v in record))
        console.print(table)


@app.command()
def summary(ctx: typer.Context,
            date: Annotated[dt.date | None, _date_option("--date", "default: today (UTC)")] = None) -> None:
    """What the warehouse holds for a date: loads, the champion model, follow-ups per queue."""
    from crm_followups.delivery.summary import print_summary

    print_summary(ctx.obj, date or utc_today())


@app.command()
def sql(ctx: typer.Context, query: Annotated[str, typer.Argument(help="one SQL query")]) -> None:
    """Run one read-only query against the warehouse."""
    import duckdb

    from crm_followups.core.warehouse import connect

    settings: Settings = ctx.obj
    try:
        with connect(settings, read_only=True) as con:
            con.sql(query).show(max_rows=200, max_width=200)
    except duckdb.Error as exc:
        raise _fail(f"{settings.warehouse_path}: {exc}") from None


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def dbt(ctx: typer.Context) -> None:
    """Run dbt with the product's profile, salt and paths; exits with dbt's code.

    Everything after `dbt` goes to dbt: `crm-followups dbt build --select marts`,
    `crm-followups dbt docs generate`."""
    from crm_followups.transform.dbt_runner import DbtError, run_dbt

    words = list(ctx.args)
    options_at = next((i for i, a in enumerate(words) if a.startswith("-")), len(words))
    if not options_at:
        raise _fail("give a dbt command, e.g. `crm-followups dbt build --select marts`", 2)
    try:
        run_dbt(ctx.obj, " ".join(words[:options_at]), *words[options_at:])
    except DbtError as exc:
        # dbt's own codes: 1 when a node failed, 2 when dbt could not run the command
        raise _fail(str(exc), 2 if exc.__cause__ else 1) from None


class UI(StrEnum):
    airflow = "airflow"
    mlflow = "mlflow"
    docs = "docs"


@app.command()
def ui(ctx: typer.Context, which: Annotated[UI, typer.Argument(help="which UI to serve")],
       port: Annotated[int | None, typer.Option(
           min=1, max=65535, help="default: airflow 8080, mlflow 5000, docs 8580")] = None,
       schedule: Annotated[bool, typer.Option(
           "--schedule", help="airflow: unpause crm_nightly, so the scheduler runs its nights "
                              "(default: paused; trigger runs from the UI)")] = False) -> None:
    """Serve a UI on 127.0.0.1 until Ctrl-C / SIGTERM: Airflow (no login: loopback only),
    MLflow, or the dbt docs (generated first when a night ran since)."""
    if schedule and which is not UI.airflow:
        raise typer.BadParameter("--schedule is for `ui airflow` only")
    serve_ui(ctx.obj, which.value, port or UI_PORTS[which.value], schedule)


@app.command()
def erase(ctx: typer.Context,
          customer_id: Annotated[str, typer.Option(help="the customer's id in their CRM")],
          source_system: Annotated[str, typer.Option(
              help="the export the customer comes from (generic, hubspot, salesforce, a mapped "
                   "export's name)")] = "generic") -> None:
    """Erase a customer everywhere, on their request (between nights: it writes the warehouse).

    Prints the erasure's key, never the id: the record in raw._erasures cannot re-identify."""
    import json

    from crm_followups.privacy.erasure import erase_customer

    erasure = erase_customer(ctx.obj, customer_id, source_system)
    typer.echo(json.dumps({"erasure_key": erasure.key, "rows_deleted": erasure.rows_deleted,
                           "files_rewritten": len(erasure.files_rewritten)}, indent=2))


@app.command()
def sample(ctx: typer.Context,
           customers: Annotated[int, typer.Option(min=1, help="how many customers")] = 200,
           days: Annotated[int, typer.Option(min=1, help="how many days of communications")] = 90,
           seed: Annotated[int, typer.Option(help="random seed: the same seed writes the same export")] = 7,
           run_date: Annotated[dt.date | None, _date_option(
               "--run-date", "the export ends the day before this date (default: today)")] = None,
           out: Annotated[Path | None, typer.Option(
               help="folder (default: $CRM_DATA_DIR/exports/generic)")] = None) -> None:
    """Write a sample export of any size (demos, benchmarks)."""
    from crm_followups.sample.generate import write_export

    folder = out or ctx.obj.exports_dir / "generic"
    export = write_export(folder, run_date or utc_today(), customers, days, seed)
    typer.echo(f"wrote {export.rows} communication rows to {export.communications}")
    typer.echo(f"wrote {customers} customers to {export.customers}")
    typer.echo(f"wrote the planted engagement changes to {export.planted}")


def main(prog_name: str = "crm-followups") -> None:
    """The console script's entry point; ``python -m crm_followups`` calls it too."""
    app(prog_name=prog_name)
