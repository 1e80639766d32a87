"""Vocabularies stored as arrays come back as fitted, or stay dicts when an array cannot hold them."""

from __future__ import annotations

from sklearn.feature_extraction.text import CountVectorizer

from ml.vocabularies import compact_vocabularies, restore_vocabularies


def test_a_vocabulary_round_trips_through_its_array_and_the_fitted_model_is_left_alone() -> None:
    fitted = CountVectorizer(ngram_range=(1, 2)).fit(["refund my card", "cancel my plan", "card declined"])
    stored = compact_vocabularies(fitted)
    assert not hasattr(stored, "vocabulary_") and len(stored.vocabulary) == len(fitted.vocabulary_)
    assert fitted.vocabulary is None and fitted.vocabulary_
    restored = restore_vocabularies(stored)
    assert restored.vocabulary_ == fitted.vocabulary_ and restored.vocabulary is None


def test_a_term_ending_in_nul_keeps_the_dict() -> None:
    # a unicode array would store the term "\0" as ""
    fitted = CountVectorizer(analyzer="char").fit(["ab\0", "b"])
    stored = compact_vocabularies(fitted)
    assert stored.vocabulary_ == fitted.vocabulary_ and stored.vocabulary is None
