"""Text models and trends: trained and scored by the nightly DAG, tracked in MLflow."""
