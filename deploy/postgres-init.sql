-- One PostgreSQL server, two databases: Airflow's metadata and MLflow's backend store.
create database airflow;
create database mlflow;
