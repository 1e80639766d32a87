"""Sentiment on public labelled sets that the model never trains on (``tests/fixtures/sentiment``),
through the product's own model building; a neutral answer counts as a miss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.sentiment import BilingualSentiment, labelled_sentiment, sentiment_labels

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sentiment"


@pytest.fixture(scope="module")
def model() -> BilingualSentiment:
    labelled = labelled_sentiment()
    return BilingualSentiment().fit(labelled, labelled["label"])


def _accuracy(model: BilingualSentiment, file: str) -> float:
    rows = pd.read_csv(FIXTURES / file, sep="\t", quoting=3, escapechar="\\", keep_default_na=False)
    return float(np.mean(sentiment_labels(model.predict(rows)) == rows["label"].to_numpy()))


def test_training_never_sees_the_evaluation_sentences():
    evaluation = pd.read_csv(FIXTURES / "vader_amazon_reviews.tsv", sep="\t", quoting=3, escapechar="\\",
                             keep_default_na=False)
    assert not set(evaluation["text"]) & set(labelled_sentiment()["text"])


def test_english_amazon_review_sentences(model):
    # 78.5% measured (plain VADER 66.6%, the previous vectorised lexicon 65.6%); the goal is 80%.
    assert _accuracy(model, "vader_amazon_reviews.tsv") >= 0.78
