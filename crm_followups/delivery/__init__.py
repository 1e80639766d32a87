"""Delivery: a night's follow-ups where people use them: the CRM import CSV (``outbox``), the
HTML report (``report``), both published together (``publish``), and the run summary."""
