"""CRM communications to ranked follow-up lists: the code the Airflow DAGs call.

Every process that runs the product imports this package first (the CLI, each DAG task, the
Airflow processes that load the DAG), so the umask is set here, once: every file and folder
they create (the warehouse, the MLflow and Airflow databases, logs, the outbox) is readable
by its owner only from the start, and the subprocesses they start inherit it.
"""

import os

from crm_followups.core.privacy import PRIVATE_UMASK

os.umask(PRIVATE_UMASK)
