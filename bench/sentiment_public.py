"""Benchmark: sentiment accuracy on public labelled sets that the model never trains on.

Each set's rows are positive or negative; a `neutral` answer (|polarity| < 0.05) counts as a
miss. Measured in the same run, through the product's own code (``BilingualSentiment`` fitted
on ``labelled_sentiment()``, as ``ml.train.train_sentiment`` does):

- plain VADER: the full rule-based analyser of ``vaderSentiment`` (compound score);
- VADER lexicon, vectorised: the previous English model (first lexicon score of the model);
- the model.

    .venv/bin/python bench/sentiment_public.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ml.sentiment import BilingualSentiment, labelled_sentiment, sentiment_labels

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sentiment"
ENGLISH_SETS = {"VADER paper's Amazon review sentences (en)": "vader_amazon_reviews.tsv"}


def evaluation_set(file: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / file, sep="\t", quoting=3, escapechar="\\", keep_default_na=False)


def _accuracy(polarity: np.ndarray, labels: pd.Series) -> float:
    return float(np.mean(sentiment_labels(np.asarray(polarity)) == labels.to_numpy()))


def plain_vader(text: pd.Series) -> np.ndarray:
    """The reference analyser, row by row (it has no batch form)."""
    analyser = SentimentIntensityAnalyzer()
    return np.array([analyser.polarity_scores(t)["compound"] for t in text])


def main() -> None:
    started = time.perf_counter()
    labelled = labelled_sentiment()
    model = BilingualSentiment().fit(labelled, labelled["label"])
    print(f"fitted on {len(labelled):,} labelled rows in {time.perf_counter() - started:.0f} s")
    print("| set | rows | plain VADER | VADER lexicon, vectorised (previous model) | model |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, file in ENGLISH_SETS.items():
        rows = evaluation_set(file)
        previous = model.lexicon_scores(model.english_counts(rows["text"]))[:, 0]
        scores = [_accuracy(plain_vader(rows["text"]), rows["label"]), _accuracy(previous, rows["label"]),
                  _accuracy(model.predict(rows), rows["label"])]
        print(f"| {name} | {len(rows):,} | " + " | ".join(f"{s:.1%}" for s in scores) + " |")
    texts = pd.DataFrame({"text": pd.concat([evaluation_set(f)["text"] for f in ENGLISH_SETS.values()] * 10,
                                            ignore_index=True)})
    started = time.perf_counter()
    model.predict(texts)
    print(f"scoring: {len(texts) / (time.perf_counter() - started):,.0f} texts/s")


if __name__ == "__main__":
    main()
