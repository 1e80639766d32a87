"""The input example logged with every text model: fixed synthetic texts, never a customer's.

MLflow stores a model's input example as a file beside the model, readable by anyone who can
open the run, and keeps it as long as the model version: a customer's message there would
outlive its erasure. The signature is still inferred from the real training frame (it holds
only column names and types), and the datasets logged with ``mlflow.log_input`` hold a
digest, the schema and row counts, not rows (docs/privacy.md).
"""

from __future__ import annotations

import pandas as pd

from ml.features import TEXT_COLUMN

# One of each kind the models see: English and Chinese, a request, a complaint, a price question.
SYNTHETIC_TEXTS = (
    "Pricing question: how much is the annual plan for ten users?",
    "The app crashes every time I log in, please help.",
    "我想了解一下企业版的价格。",
)


def input_example() -> pd.DataFrame:
    """The text models' input example: the one text column, synthetic rows."""
    return pd.DataFrame({TEXT_COLUMN: list(SYNTHETIC_TEXTS)})
