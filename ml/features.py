"""Text features that work for English and Chinese alike.

Chinese has no spaces, so word tokens alone see a whole sentence as one token: character
n-grams within word boundaries carry the signal there, word uni/bi-grams carry it for
English. Both see the same ``text`` column (subject and body joined).
"""

from __future__ import annotations

import re

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer

TEXT_COLUMN = "text"
# Words of two or more letters, and Chinese characters one by one (their pairs then come from
# the bigram range): a tokenisation both languages can share without a segmenter.
TERM_PATTERN = r"[A-Za-z][A-Za-z']+|[\u4e00-\u9fff]"
PUNCTUATION = re.compile(r"[^\w\s]")


def text_frame(subject: pd.Series, body: pd.Series) -> pd.DataFrame:
    """The one-column frame the models take: subject and body joined."""
    return pd.DataFrame({TEXT_COLUMN: (subject.fillna("") + " " + body.fillna("")).str.strip()})


def normalise(text: str) -> str:
    """Lower case, punctuation (English and Chinese) as spaces: "card?" and "card" then share
    their character n-grams (worth +0.3-0.5 accuracy points on banking77, docs/models.md)."""
    return PUNCTUATION.sub(" ", text.lower())


def text_features(char_ngrams: tuple[int, int] = (2, 5), word_ngrams: tuple[int, int] = (1, 2),
                  min_df: int = 1, strip_punctuation: bool = True) -> ColumnTransformer:
    """Character n-grams (within word boundaries) beside word n-grams, both TF-IDF weighted."""
    preprocessor = normalise if strip_punctuation else None
    return ColumnTransformer([
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=char_ngrams, min_df=min_df,
                                 sublinear_tf=True, preprocessor=preprocessor), TEXT_COLUMN),
        ("word", TfidfVectorizer(analyzer="word", ngram_range=word_ngrams, min_df=min_df,
                                 sublinear_tf=True, token_pattern=r"(?u)\b\w+\b",
                                 preprocessor=preprocessor), TEXT_COLUMN),
    ])


def term_features(max_df: float = 0.5) -> ColumnTransformer:
    """Readable terms for topic keywords: English words and Chinese character pairs, without
    English stop words and without terms in more than ``max_df`` of the communications."""
    return ColumnTransformer([
        ("terms", TfidfVectorizer(token_pattern=TERM_PATTERN, ngram_range=(1, 2), stop_words="english",
                                  max_df=max_df, min_df=2, sublinear_tf=True), TEXT_COLUMN),
    ])
