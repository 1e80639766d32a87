"""Benchmark: banking77 through the whole product, beside the plain baseline on the same rows.

The queries go in as one canonical export, a fixed fifth (hash of the text) without its label,
as ``tests/ml/test_intent_banking77_pipeline.py`` writes them
(``crm_followups.sample.labelled_queries``); extract, dbt build,
``train_intent`` and ``score_communications`` run on a fresh data folder, and the accuracy of
the intents written for the unlabelled fifth is compared with a plain word TF-IDF + logistic
regression and with ``fit_intent_model``, both fitted on the same labelled rows.

    .venv/bin/python bench/intent_banking77_pipeline.py [--data-dir /tmp/b77]
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from crm_followups.core.settings import Settings
from crm_followups.extract.load import load_exports
from crm_followups.sample.labelled_queries import banking77_export
from crm_followups.transform.dbt_runner import build_warehouse
from ml.features import text_frame
from ml.intent import fit_intent_model
from ml.score import score_communications
from ml.train import train_intent

ROOT = Path(__file__).resolve().parents[1]


def _module(path: Path):
    """A bench module by its path: the folder is not a package."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def through_pipeline(data_dir: Path, export: pd.DataFrame) -> pd.Series:
    """The intent the product writes for each communication, by communication_id."""
    settings = Settings(data_dir=data_dir, file_settle_seconds=0)
    settings.ensure_dirs()
    inbox = settings.exports_dir / "generic"
    inbox.mkdir(parents=True, exist_ok=True)
    export.drop(columns="truth").to_csv(inbox / "communications_banking77.csv", index=False)
    load_exports(settings)
    build_warehouse(settings)
    train_intent(settings, force=True)
    score_communications(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        scores = con.execute("select communication_id, intent from ml.communication_scores").df()
    return scores.set_index("communication_id")["intent"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.mkdtemp(prefix="b77-pipeline-")))
    args = parser.parse_args()
    export = banking77_export(hold_out=True)
    plain_baseline = _module(ROOT / "bench" / "intent_banking77.py").plain_baseline
    labelled, unlabelled = export[export["label"].notna()], export[export["label"].isna()]
    x_train, x_test = (text_frame(f["subject"], f["body"]) for f in (labelled, unlabelled))
    truth = unlabelled["truth"].to_numpy()
    started = time.perf_counter()
    written = through_pipeline(args.data_dir, export).reindex(unlabelled["communication_id"]).to_numpy()
    seconds = time.perf_counter() - started
    rows = {"plain baseline: word TF-IDF + logistic regression, fitted directly":
            plain_baseline().fit(x_train, labelled["label"]).predict(x_test),
            "product model, `fit_intent_model` fitted directly": fit_intent_model(x_train, labelled["label"])
            .model.predict(x_test),
            f"product, through the pipeline (`ml.communication_scores.intent`, {seconds:.0f} s)": written}
    print(f"{len(labelled)} labelled queries, {len(unlabelled)} scored")
    for name, predicted in rows.items():
        print(f"| {name} | {(predicted == truth).mean():.2%} |")


if __name__ == "__main__":
    main()
