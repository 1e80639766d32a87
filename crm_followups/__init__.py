"""CRM communications to ranked follow-up lists: the code the Airflow DAGs call."""
