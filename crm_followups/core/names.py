"""Names other systems know the product by: MLflow experiments and registered models, the
registry alias that scoring follows, Airflow pools and assets. Renaming one strands what was stored
under the old name, so they are written once, here."""

from __future__ import annotations

INTENT_EXPERIMENT = "crm-intent"
INTENT_MODEL = "crm_intent"
SENTIMENT_EXPERIMENT = "crm-sentiment"
SENTIMENT_MODEL = "crm_sentiment"
TOPICS_EXPERIMENT = "crm-topics"
TOPICS_MODEL = "crm_topics"
SCORING_EXPERIMENT = "crm-scoring"
TRENDS_EXPERIMENT = "crm-trends"
CHAMPION_ALIAS = "champion"

DAG_ID = "crm_nightly"
# The XCom key under which a failed task of the DAG records its exception (`crm-followups status`).
ERROR_XCOM_KEY = "error"
# The XCom key of transform_due's decision: whether dbt builds tonight, why, and the fingerprint.
TRANSFORM_DECISION_XCOM_KEY = "decision"
WAREHOUSE_POOL = "warehouse"
# Airflow's own pool: tasks that never open the warehouse (the scoring partitions) run here.
PARTITION_POOL = "default_pool"

# The night's outputs as Airflow assets (name, URI): other DAGs schedule on them by name. Stable
# names and URIs, not machine paths, so they stay the same wherever the data folder lives.
FOLLOWUPS_ASSET = ("crm_followups.followups", "crm-followups://warehouse/marts.followups")
OUTBOX_ASSET = ("crm_followups.outbox", "crm-followups://outbox/followups.csv")
REPORT_ASSET = ("crm_followups.report", "crm-followups://reports/run.html")
