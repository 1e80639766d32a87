"""Text features that work for English and Chinese alike.

Chinese has no spaces, so word tokens alone see a whole sentence as one token: character
n-grams within word boundaries carry the signal there, word uni/bi-grams carry it for
English. Both see the same ``text`` column (subject and body joined).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

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


def transform_text(features: ColumnTransformer, x: pd.DataFrame) -> sp.csr_matrix:
    """What ``features.transform(x)`` gives for a fitted ColumnTransformer of text vectorizers
    (``text_features``, ``term_features``), each block computed as by ``vectorise``: stacked
    term x text, then turned once, instead of each block turned and then joined row by row."""
    return sp.vstack([_by_term(vectorizer, x[column]) for _, vectorizer, column in features.transformers_
                      if vectorizer != "drop"], format="csr").T.tocsr()


def vectorise(vectorizer: CountVectorizer, texts: pd.Series) -> sp.csr_matrix:
    """What ``vectorizer.transform(texts)`` gives (a fitted CountVectorizer or TfidfVectorizer
    with a ``char_wb``, ``char`` or ``word`` analyzer, L2 norm or none), the same numbers, many
    times faster.

    scikit-learn preprocesses, tokenises and looks up every n-gram of every text in Python. But
    neither a ``char_wb`` n-gram nor a token (the patterns here never match a space) crosses
    ASCII whitespace, and texts repeat words: so Arrow splits the texts there, each distinct
    chunk is preprocessed and split by scikit-learn's own code once, each distinct n-gram is
    joined and looked up once, and a text's counts are built from its chunks' in arrays."""
    return _by_term(vectorizer, texts).T.tocsr()


def _by_term(vectorizer: CountVectorizer, texts: pd.Series) -> sp.csr_matrix:
    """``vectorise``'s answer transposed (term x text), as it is built: summing counts term by
    term needs no sort, and turning it leaves each text's terms in order, as scikit-learn's."""
    weighted = isinstance(vectorizer, TfidfVectorizer)
    if weighted and vectorizer.norm not in ("l2", None):
        return vectorizer.transform(texts).T.tocsr()
    if vectorizer.analyzer == "char_wb" and vectorizer.ngram_range[0] <= 3:
        counts = _char_wb_counts(vectorizer, texts)
    elif vectorizer.analyzer == "word" and vectorizer.tokenizer is None:
        counts = _word_counts(vectorizer, texts)
    elif vectorizer.analyzer == "char":
        counts = _char_counts(vectorizer, texts)
    else:
        return vectorizer.transform(texts).T.tocsr()
    return _tfidf(vectorizer, counts) if weighted else counts


def _tfidf(vectorizer: TfidfVectorizer, counts: sp.csr_matrix) -> sp.csr_matrix:
    """What ``TfidfTransformer.transform`` does, on term x text ``counts`` (in place), from the
    vectorizer's public settings and ``idf_``: the same operations on each value, and each
    text's L2 norm summed over its terms in order, as scikit-learn's row loop sums it."""
    weights = counts if counts.dtype in (np.float64, np.float32) else counts.astype(np.float64)
    if vectorizer.sublinear_tf:
        np.log(weights.data, weights.data)
        weights.data += 1.0
    if vectorizer.use_idf:
        weights.data *= np.repeat(vectorizer.idf_, np.diff(weights.indptr))
    if vectorizer.norm == "l2":
        squares = np.bincount(weights.indices, weights.data * weights.data, weights.shape[1])
        weights.data /= np.sqrt(np.where(squares == 0.0, 1.0, squares))[weights.indices]
    return weights


def arrow_strings(texts: pd.Series) -> pa.LargeStringArray:
    """``texts`` as one Arrow array: pandas' Arrow-backed strings may hold several chunks (after a
    concat), or none (an empty selection), and a chunked array has no dictionary ``indices``."""
    strings = pa.array(texts, pa.large_string())
    return strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings


def _chunks(texts: pd.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every chunk of ``texts`` between ASCII whitespace, in order: its text's position and
    which of the distinct chunks (the third item) it is."""
    split = pc.ascii_split_whitespace(arrow_strings(texts))
    encoded = pc.dictionary_encode(pc.list_flatten(split))
    return (pc.list_parent_indices(split).to_numpy(), encoded.indices.to_numpy(),
            encoded.dictionary.to_pylist())


def chunk_sums(texts: pd.Series, measure: Callable[[str], int]) -> np.ndarray:
    """Per text, ``measure`` summed over its chunks between ASCII whitespace, each distinct chunk
    measured once: a text's own count of anything that never holds whitespace (the matches of
    ``\\w``, Chinese characters), without a regex call per text."""
    text_of, codes, distinct = _chunks(texts)
    per_chunk = np.array([measure(chunk) for chunk in distinct], dtype=np.int64)
    return np.bincount(text_of, weights=per_chunk[codes], minlength=len(texts))


def _char_wb_counts(vectorizer: CountVectorizer, texts: pd.Series) -> sp.csr_matrix:
    """``char_wb`` counts, n-gram x text. scikit-learn splits each preprocessed text into words,
    pads each with a space either side and takes the character n-grams within: so a text's
    counts are the sum of its words', and each distinct word's are counted once, as ``char``
    n-grams of the padded word (a padded word is never shorter than the smallest n: ``_by_term``
    sends ranges from n > 3 to scikit-learn)."""
    text_of, codes, distinct = _chunks(texts)
    preprocess = vectorizer.build_preprocessor()
    chunk_words = pa.array([preprocess(chunk).split() for chunk in distinct], pa.list_(pa.large_string()))
    words = pc.dictionary_encode(pc.list_flatten(chunk_words))
    chunk_of = pc.list_parent_indices(chunk_words).to_numpy()
    word_chunks = sp.csr_matrix((np.ones(len(words), vectorizer.dtype), (words.indices.to_numpy(), chunk_of)),
                                shape=(len(words.dictionary), len(distinct)))
    chunk_texts = sp.csr_matrix((np.ones(len(codes), vectorizer.dtype), (codes, text_of)),
                                shape=(len(distinct), len(texts)))
    padded = [f" {word} " for word in words.dictionary.to_pylist()]
    per_word = _ngram_counts(vectorizer, *_code_points(padded), "", len(padded))
    return (per_word @ word_chunks) @ chunk_texts


def _tokens(vectorizer: CountVectorizer, texts: pd.Series) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Every token of ``texts`` in order, stop words dropped: its text's position and which of
    the distinct tokens (the third item) it is. Each distinct chunk is tokenised once, then its
    token numbers are repeated for each time it occurs, in arrays: no token string is copied."""
    preprocess, tokenize = vectorizer.build_preprocessor(), vectorizer.build_tokenizer()
    text_of, codes, distinct = _chunks(texts)
    chunk_tokens = pa.array([tokenize(preprocess(chunk)) for chunk in distinct], pa.list_(pa.large_string()))
    tokens = pc.list_flatten(chunk_tokens)
    chunk_of = pc.list_parent_indices(chunk_tokens).to_numpy()
    stop_words = vectorizer.get_stop_words()
    if stop_words:
        kept = pc.invert(pc.is_in(tokens, pa.array(list(stop_words), pa.large_string())))
        tokens, chunk_of = tokens.filter(kept), chunk_of[kept.to_numpy(zero_copy_only=False)]
    encoded = pc.dictionary_encode(tokens)
    per_chunk = np.bincount(chunk_of, minlength=len(distinct))
    lengths = per_chunk[codes]  # tokens of each chunk occurrence, in text order
    # the j-th token of an occurrence is its chunk's first token plus j
    shift = (np.cumsum(per_chunk) - per_chunk)[codes] - (np.cumsum(lengths) - lengths)
    at = np.repeat(shift, lengths) + np.arange(lengths.sum())
    return np.repeat(text_of, lengths), encoded.indices.to_numpy().astype(np.int64)[at], encoded.dictionary


def _word_counts(vectorizer: CountVectorizer, texts: pd.Series) -> sp.csr_matrix:
    """Word n-gram counts, n-gram x text, as scikit-learn makes them: stop words dropped first,
    then n consecutive tokens of one text joined by a space."""
    return _ngram_counts(vectorizer, *_tokens(vectorizer, texts), " ", len(texts))


def _characters(vectorizer: CountVectorizer, texts: pd.Series) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Every character of ``texts`` as scikit-learn's ``char`` analyzer sees them (preprocessed,
    runs of whitespace as one space), as ``_code_points``."""
    spaced = texts.map(vectorizer.build_preprocessor()).str.replace(r"\s\s+", " ", regex=True)
    return _code_points(spaced.tolist())


def _code_points(strings: list[str]) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Every character of ``strings``, in order: its string's position and which of the distinct
    characters (the third item) it is."""
    points = np.frombuffer("".join(strings).encode("utf-32-le", "surrogatepass"), "<u4")
    codes, distinct = pd.factorize(points)
    text_of = np.repeat(np.arange(len(strings)), np.fromiter(map(len, strings), np.int64, len(strings)))
    return text_of, codes.astype(np.int64), pa.array([chr(point) for point in distinct], pa.large_string())


def _char_counts(vectorizer: CountVectorizer, texts: pd.Series) -> sp.csr_matrix:
    """Character n-gram counts, n-gram x text, as scikit-learn makes them: n consecutive
    characters of one text."""
    return _ngram_counts(vectorizer, *_characters(vectorizer, texts), "", len(texts))


def _ngram_counts(vectorizer: CountVectorizer, text_of: np.ndarray, codes: np.ndarray, distinct: pa.Array,
                  separator: str, texts: int) -> sp.csr_matrix:
    """Counts (n-gram x text) of the vocabulary's n-grams of units (tokens or characters; ``codes``
    index ``distinct``, in text order), each distinct n-gram joined by ``separator`` and looked up once."""
    lookup = pa.array(list(vectorizer.vocabulary_), pa.large_string())
    columns = np.fromiter(vectorizer.vocabulary_.values(), np.int64, len(vectorizer.vocabulary_))
    joint = pa.scalar(separator, pa.large_string())
    rows, cols = [], []
    low, high = vectorizer.ngram_range
    for n in range(low, high + 1):
        starts = np.flatnonzero(text_of[n - 1:] == text_of[:len(text_of) - n + 1])
        grams, first = _distinct_sequences(codes, starts, n, len(distinct))
        names = distinct.take(codes[first])
        for k in range(1, n):
            names = pc.binary_join_element_wise(names, distinct.take(codes[first + k]), joint)
        found = pc.index_in(names, value_set=lookup).to_numpy(zero_copy_only=False)[grams]
        known = ~np.isnan(found)
        rows.append(text_of[starts][known])
        cols.append(columns[found[known].astype(np.int64)])
    row, col = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(len(row), vectorizer.dtype), (col, row)),
                         shape=(len(vectorizer.vocabulary_), texts))


def _distinct_sequences(codes: np.ndarray, starts: np.ndarray, n: int, vocabulary: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """For the ``n`` tokens from each of ``starts``: which distinct sequence they are, and
    where each distinct sequence first starts."""
    grams = pd.factorize(codes[starts])[0].astype(np.int64)
    for k in range(1, n):
        grams = pd.factorize(grams * vocabulary + codes[starts + k])[0].astype(np.int64)
    # factorize numbers sequences by first appearance: a sequence is new where its number
    # exceeds every number before it
    new = np.empty(len(grams), bool)
    new[:1] = True
    new[1:] = grams[1:] > np.maximum.accumulate(grams)[:-1]
    return grams, starts[new]
