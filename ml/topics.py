"""Topics: communications clustered by the terms they use, each cluster named by its top terms.

KMeans on L2-normalised TF-IDF vectors is spherical k-means (cosine similarity), the classic
document clustering; the number of topics is the one with the best cosine silhouette on a
sample among a few candidates. Terms are English words and Chinese character pairs, so a
topic's keywords read in both languages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.pipeline import Pipeline

from ml.features import term_features, transform_text

TOPIC_COUNTS = (4, 6, 8, 10, 12)
KEYWORDS_PER_TOPIC = 8
SILHOUETTE_SAMPLE = 2000
SEED = 42
CJK = r"[\u4e00-\u9fff]"


@dataclass
class TopicFit:
    model: Pipeline
    topics: int
    silhouette: float
    silhouettes: dict[int, float]


def silhouette(model: Pipeline, x: pd.DataFrame) -> float:
    """Cosine silhouette of ``model``'s topics on ``x`` (a sample of it, to stay cheap)."""
    vectors = model.named_steps["features"].transform(x)
    labels = model.named_steps["clusters"].predict(vectors)
    if len(np.unique(labels)) < 2:
        return -1.0
    return float(silhouette_score(vectors, labels, metric="cosine",
                                  sample_size=min(SILHOUETTE_SAMPLE, len(x)), random_state=SEED))


def fit_topic_model(x: pd.DataFrame, topic_counts: tuple[int, ...] = TOPIC_COUNTS) -> TopicFit:
    """Fit one model per candidate count (the vocabulary once) and keep the best silhouette."""
    features = term_features().fit(x)
    vectors = features.transform(x)
    candidates = [k for k in topic_counts if k < len(x)]
    scores: dict[int, float] = {}
    fitted: dict[int, KMeans] = {}
    for k in candidates:
        fitted[k] = KMeans(n_clusters=k, n_init=3, random_state=SEED).fit(vectors)
        scores[k] = float(silhouette_score(vectors, fitted[k].labels_, metric="cosine",
                                           sample_size=min(SILHOUETTE_SAMPLE, len(x)), random_state=SEED))
    best = max(scores, key=scores.get)
    model = Pipeline([("features", features), ("clusters", fitted[best])])
    return TopicFit(model, best, scores[best], scores)


def predict_topics(model: Pipeline, x: pd.DataFrame) -> np.ndarray:
    """Each communication's topic: ``model.predict(x)``, its features computed faster."""
    return model[-1].predict(transform_text(model[0], x))


def topic_keywords(model: Pipeline, top: int = KEYWORDS_PER_TOPIC) -> list[str]:
    """Per topic, its heaviest terms at the centroid, comma-joined. Single Chinese characters
    (mostly particles such as 的, 了) help the clustering but read as noise, so keywords skip them."""
    names = pd.Series(model.named_steps["features"].get_feature_names_out()).str.split("__", n=1).str[1]
    names = names.str.replace(rf"(?<={CJK}) (?={CJK})", "", regex=True)
    readable = ~names.str.fullmatch(CJK).to_numpy()
    centres = np.where(readable, model.named_steps["clusters"].cluster_centers_, -np.inf)
    order = np.argsort(-centres, axis=1)[:, :top]
    return [", ".join(row) for row in names.to_numpy()[order]]


def topic_table(model: Pipeline, model_version: str) -> pd.DataFrame:
    """``ml.topics`` rows: topic_id, model_version, keywords, size (training communications in it)."""
    labels = model.named_steps["clusters"].labels_
    sizes = np.bincount(labels, minlength=model.named_steps["clusters"].n_clusters)
    keywords = topic_keywords(model)
    return pd.DataFrame({"topic_id": np.arange(len(keywords), dtype="int32"), "model_version": model_version,
                         "keywords": keywords, "size": sizes.astype("int64")})
