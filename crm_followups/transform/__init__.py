"""Transform: dbt run in-process against the warehouse (``dbt_runner``), and the raw layer
copied to PostgreSQL for dbt's portable ``postgres`` target (``postgres``)."""
