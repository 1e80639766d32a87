"""Benchmark: sentiment accuracy on public labelled sets that the model never trains on.

Each set's rows are positive or negative; a `neutral` answer (|polarity| < 0.05) counts as a
miss. Measured in the same run, through the product's own code (``BilingualSentiment`` fitted
on ``labelled_sentiment()``, as ``ml.train.train_sentiment`` does):

- plain VADER: the full rule-based analyser of ``vaderSentiment`` (compound score);
- VADER rules, vectorised: the model's own VADER score (its first lexicon score);
- the model.

The model's variants were chosen on the even rows of the Amazon sentences (half A); the odd
rows (half B) were looked at only to report, so half B is the unbiased figure.

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


def halves(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """All rows, the even rows (where variants were chosen) and the odd rows (held out)."""
    even = np.arange(len(rows)) % 2 == 0
    return {"all": np.ones(len(rows), dtype=bool), "half A (chosen on)": even, "half B (held out)": ~even}


def _accuracy(polarity: np.ndarray, labels: pd.Series) -> float:
    return float(np.mean(sentiment_labels(np.asarray(polarity)) == labels.to_numpy()))


def plain_vader(text: pd.Series) -> np.ndarray:
    """The reference analyser, row by row (it has no batch form)."""
    analyser = SentimentIntensityAnalyzer()
    return np.array([analyser.polarity_scores(t)["compound"] for t in text])


def vectorised_vader(model: BilingualSentiment, text: pd.Series) -> np.ndarray:
    return model.lexicon_scores(model.english_counts(text), text.str.count("!").to_numpy())[:, 0]


def main() -> None:
    started = time.perf_counter()
    labelled = labelled_sentiment()
    model = BilingualSentiment().fit(labelled, labelled["label"])
    print(f"fitted on {len(labelled):,} labelled rows in {time.perf_counter() - started:.0f} s")
    print("| set | rows | plain VADER | VADER rules, vectorised | model |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, file in ENGLISH_SETS.items():
        rows = evaluation_set(file)
        polarities = [plain_vader(rows["text"]), vectorised_vader(model, rows["text"]), model.predict(rows)]
        for part, chosen in halves(rows).items():
            scores = [_accuracy(polarity[chosen], rows["label"][chosen]) for polarity in polarities]
            print(f"| {name}, {part} | {chosen.sum():,} | " + " | ".join(f"{s:.1%}" for s in scores) + " |")
    texts = pd.DataFrame({"text": pd.concat([evaluation_set(f)["text"] for f in ENGLISH_SETS.values()] * 10,
                                            ignore_index=True)})
    started = time.perf_counter()
    model.predict(texts)
    print(f"scoring: {len(texts) / (time.perf_counter() - started):,.0f} texts/s")


if __name__ == "__main__":
    main()
