"""The ``crm-followups`` command (``python -m crm_followups``): ``app`` wires the commands;
``stack`` prepares the embedded Airflow, ``nightly`` runs the DAG in this process and
``metadata`` reads Airflow's metadata DB for ``status``.

Airflow reads its configuration from the environment when it is first imported, so every
command sets that environment (all under ``CRM_DATA_DIR``) before anything imports Airflow.
"""
