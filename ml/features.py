"""Text features that work for English and Chinese alike.

Chinese has no spaces, so word tokens alone see a whole sentence as one token: character
n-grams within word boundaries carry the signal there, word uni/bi-grams carry it for
English. Both see the same ``text`` column (subject and body joined).
"""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer

TEXT_COLUMN = "text"


def text_frame(subject: pd.Series, body: pd.Series) -> pd.DataFrame:
    """The one-column frame the models take: subject and body joined."""
    return pd.DataFrame({TEXT_COLUMN: (subject.fillna("") + " " + body.fillna("")).str.strip()})


def text_features(min_df: int = 1) -> ColumnTransformer:
    return ColumnTransformer([
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=min_df,
                                 sublinear_tf=True), TEXT_COLUMN),
        ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=min_df,
                                 sublinear_tf=True, token_pattern=r"(?u)\b\w+\b"), TEXT_COLUMN),
    ])
