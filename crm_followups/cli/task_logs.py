"""Task log files for nights run in this process (``dag.test``), where the Airflow UI reads them.

Under a scheduler, each task's supervisor writes its log as JSON lines to
``$AIRFLOW_HOME/logs/<log_filename_template>``, and the api-server's ``FileTaskHandler`` reads
them back. ``dag.test`` runs tasks in this process with no supervisor, so no file is written and
the UI says "Log file not found on worker". While a night runs, :func:`task_log_files` keeps one
file open per running task instance (an Airflow listener opens it when the task starts and
closes it when it ends) and writes to it what the task logs, both Airflow's structlog events and
the standard-library records of the product's own modules, rendered by Airflow's own JSON log
processors (secrets masked, a traceback as the ``error_detail`` the UI renders) to the path the
UI looks at.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any, BinaryIO

import structlog
from airflow.sdk._shared.listeners import hookimpl
from airflow.sdk.listener import get_listener_manager
from airflow.sdk.log import init_log_file, logging_processors
from airflow.utils.helpers import log_filename_template_renderer


class TaskLogFiles(logging.Handler):
    """The log file of the task instance running now: an Airflow listener that opens and closes
    it, a structlog processor and a logging handler that write every event to it."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self._file: BinaryIO | None = None
        self._render_path = log_filename_template_renderer()
        self._json = logging_processors(json_output=True)

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        path = init_log_file(self._render_path(ti=task_instance))
        with self.lock:
            self.close_file()
            self._file = path.open("ab")

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        self.close_file()

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        self.close_file()

    @hookimpl
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        self.close_file()

    def __call__(self, logger: Any, method_name: str, event_dict: Any) -> Any:
        """As a structlog processor: copy the event to the task's file, pass it on unchanged."""
        if self._file is not None:
            self._write(method_name, dict(event_dict))
        return event_dict

    def emit(self, record: logging.LogRecord) -> None:
        """As a logging handler: the product's own records (``logging.getLogger``) to the file."""
        if self._file is None:
            return
        event = {"event": record.getMessage(), "logger_name": record.name,
                 "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat()}
        if record.exc_info:
            event["exc_info"] = record.exc_info
        self._write(record.levelname.lower(), event)

    def _write(self, method_name: str, event: Any) -> None:
        for processor in self._json[:-1]:
            event = processor(None, method_name, event)
        # as the supervisor does with a task's lines: the UI renders a traceback from error_detail
        if exception := event.pop("exception", None):
            event["error_detail"] = exception
        with self.lock:  # the in-process API server logs from its own threads too
            if self._file is not None:
                self._file.write(self._json[-1](None, method_name, event) + b"\n")
                self._file.flush()

    def close_file(self) -> None:
        """The task ended (or the night did): later lines belong to no task's file."""
        with self.lock:
            if self._file is not None:
                self._file.close()
                self._file = None


@contextlib.contextmanager
def task_log_files() -> Iterator[TaskLogFiles]:
    """While the block runs, every task instance run in this process writes its log file."""
    files = TaskLogFiles()
    processors = structlog.get_config()["processors"]
    # in place, before the console renderer: loggers already bound share this list
    processors.insert(len(processors) - 1, files)
    logging.getLogger().addHandler(files)
    get_listener_manager().add_listener(files)
    try:
        yield files
    finally:
        get_listener_manager().pm.unregister(files)
        logging.getLogger().removeHandler(files)
        processors.remove(files)
        files.close_file()
