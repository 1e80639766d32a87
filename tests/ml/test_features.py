"""The fast text features give exactly scikit-learn's numbers, whatever the whitespace."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from crm_followups.sample import phrases as bank
from ml.features import TEXT_COLUMN, chunk_sums, term_features, text_features, transform_text, vectorise
from ml.sentiment import CJK, WORD_CHARACTER, BilingualSentiment, _chinese_share

# Phrasings of both languages, then texts built to trip a chunk-wise shortcut: tabs, new lines,
# runs of spaces, an ideographic space, a control separator, punctuation glued to words,
# apostrophes, an empty text, a final sigma, negations and words the vocabulary never saw.
TRICKY = ["", "   ", "Hi,\tI can't  log in!!\n\nHelp?", "客服您好，\u3000打开团队许可证的时候报错了。",
          "ΟΔΟΣ Σ ΣΑΣ", "not good at all... no refund?", "a\x1cb  c\u00a0d", "zzzz qqqq xyzzy 龘",
          "Mixed 中文 and English -- order  ORDER order.", "中not good, knot nothing to say"]


def _corpus() -> pd.Series:
    phrases = [f"{opener}{before}{product}{after}{closer}"
               for lang, intents in bank.CORES.items() for cores in intents.values()
               for before, after in cores for product in bank.PRODUCTS[lang][:2]
               for opener, closer in zip(bank.OPENERS[lang], bank.CLOSERS[lang], strict=False)]
    return pd.Series(phrases + TRICKY, name=TEXT_COLUMN)


def _same(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    """Equal to the last bit, stored in the same order."""
    return (a.shape == b.shape and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
            and np.array_equal(a.data, b.data))


@pytest.mark.parametrize("features", [text_features(),
                                      text_features(char_ngrams=(1, 3), strip_punctuation=False),
                                      term_features(max_df=0.9)],
                         ids=["intent", "baseline intent", "topics"])
def test_column_features_equal_scikit_learns(features) -> None:
    x = _corpus().to_frame()
    fitted = features.fit(x.iloc[:-len(TRICKY)])
    assert _same(transform_text(fitted, x), fitted.transform(x))


@pytest.fixture(scope="module")
def sentiment() -> BilingualSentiment:
    text = _corpus()
    return BilingualSentiment().fit(text.to_frame(), pd.Series(np.where(np.arange(len(text)) % 2, "positive",
                                                                        "negative")))


def test_sentiment_word_counts_equal_scikit_learns(sentiment) -> None:
    marked = sentiment._mark_negation(_corpus())
    assert _same(vectorise(sentiment.english_terms_, marked), sentiment.english_terms_.transform(marked))


def test_negation_marked_as_by_the_pattern_on_every_text(sentiment) -> None:
    """Only texts holding a negator go through the pattern: the others would come out unchanged."""
    lower = _corpus().str.lower()
    marked = sentiment._mark_negation(_corpus())
    expected = lower.str.replace(sentiment.negation_pattern_, r"\1 neg_\2 neg_\3 neg_\4", regex=True)
    assert marked.tolist() == expected.tolist()
    assert (marked != lower).any() and (marked == lower).any()


def test_texts_in_several_arrow_chunks_or_none(sentiment) -> None:
    """pandas keeps a concat's Arrow strings in several chunks, an empty selection in none (the
    sentiment of texts without Chinese selects none to count word characters in)."""
    text = pd.concat([_corpus()[:20], _corpus()[20:]], ignore_index=True)
    fitted = text_features().fit(text.to_frame())
    assert _same(transform_text(fitted, text.to_frame()), fitted.transform(text.to_frame()))
    english = text.str.isascii().to_numpy()
    assert np.array_equal(sentiment.predict(text[english].to_frame()),
                          sentiment.predict(_corpus()[english].to_frame()))


def test_chunk_sums_count_as_pandas_does() -> None:
    text = _corpus()
    assert np.array_equal(chunk_sums(text, lambda chunk: len(WORD_CHARACTER.findall(chunk))),
                          text.str.count(r"\w").to_numpy())
    assert np.array_equal(chunk_sums(text, lambda chunk: len(re.findall(CJK, chunk))),
                          text.str.count(CJK).to_numpy())


def test_chinese_share_as_counted_by_pythons_regex() -> None:
    text = _corpus()
    han, letters = (np.array([len(re.findall(pattern, t)) for t in text]) for pattern in (CJK, r"\w"))
    share = _chinese_share(text)
    assert np.array_equal(share, np.minimum(han / np.maximum(letters, 1), 1.0))
    assert (share > 0).any() and (share < 1).any()


def test_chinese_character_features_equal_scikit_learns(sentiment) -> None:
    text = _corpus()
    features = sentiment.chinese_[0]
    assert _same(vectorise(features, text), features.transform(text))
