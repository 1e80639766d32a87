"""Fitted vocabularies stored as one array each, so a logged model loads in a fraction of a second.

skops (the safe format MLflow stores the models in) writes a dict entry by entry and rebuilds
every entry as a node of its own at load: the three champions of the 100k sample (about
140,000 terms) took 7-8 s to load, 0.2 s stored this way (``bench/scoring_ready.py``).
A logged copy keeps each fitted vectorizer's terms in index order as a unicode array, in the
vectorizer's ``vocabulary`` parameter, without ``vocabulary_``; ``restore_vocabularies``
rebuilds the fitted state at load (``ml.tracking``, ``ml.serving`` and
``BilingualSentiment.__setstate__`` call it). A loader without this module still predicts
the same: scikit-learn itself builds ``vocabulary_`` from that parameter at the first
``transform`` (the plain topics model served by MLflow). Models logged before hold the dict
and load as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, TypeVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import CountVectorizer

Model = TypeVar("Model")


def _vectorizers(node: Any, seen: set[int]) -> Iterator[CountVectorizer]:
    """Every CountVectorizer (TfidfVectorizer included) inside an estimator, its steps and
    attributes, once each."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, CountVectorizer):
        yield node
        return
    for item in vars(node).values() if isinstance(node, BaseEstimator) else node:
        if isinstance(item, BaseEstimator | list | tuple):
            yield from _vectorizers(item, seen)


def compact_vocabularies(model: Model) -> Model:
    """A copy of ``model`` whose fitted vectorizers hold their terms as an array (index order)
    in ``vocabulary`` instead of the ``vocabulary_`` dict; ``model`` itself is left as it is."""
    stored = copy.deepcopy(model)
    for vectorizer in _vectorizers(stored, set()):
        if hasattr(vectorizer, "vocabulary_") and _fits_an_array(vectorizer.vocabulary_):
            terms = np.empty(len(vectorizer.vocabulary_), dtype=object)
            terms[list(vectorizer.vocabulary_.values())] = list(vectorizer.vocabulary_)
            vectorizer.vocabulary = terms.astype(str)
            del vectorizer.vocabulary_
    return stored


def _fits_an_array(vocabulary: dict[str, int]) -> bool:
    """A unicode array drops its strings' trailing NULs: a vocabulary with such a term keeps its dict."""
    return not any(term.endswith("\0") for term in vocabulary)


def restore_vocabularies(model: Model) -> Model:
    """``model`` (changed in place) with the fitted state ``compact_vocabularies`` stored:
    ``vocabulary_`` rebuilt, ``vocabulary`` back to what it was (the terms when they were
    given, else None)."""
    for vectorizer in _vectorizers(model, set()):
        if hasattr(vectorizer, "fixed_vocabulary_") and not hasattr(vectorizer, "vocabulary_"):
            terms = vectorizer.vocabulary.tolist()
            vectorizer.vocabulary_ = dict(zip(terms, range(len(terms)), strict=True))
            vectorizer.vocabulary = terms if vectorizer.fixed_vocabulary_ else None
    return model
