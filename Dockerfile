# One image for every service in docker-compose.yml: Airflow components, the MLflow server
# and the set-up job. It installs the same pinned lock file as `make`.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1 \
    CRM_DATA_DIR=/data \
    AIRFLOW_HOME=/data/airflow

RUN pip install --no-cache-dir uv \
 && useradd --create-home --uid 50000 crm \
 && mkdir -p /data && chown crm /data

WORKDIR /opt/crm-followups
COPY requirements.lock ./
RUN uv pip sync --system requirements.lock

COPY pyproject.toml README.md ./
COPY crm_followups ./crm_followups
COPY ml ./ml
COPY dags ./dags
COPY dbt_project ./dbt_project
RUN uv pip install --system --no-deps -e .

USER crm
