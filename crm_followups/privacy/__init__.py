"""Personal data across the layers: erasing a customer on request (``erasure``).

It sits above ``delivery``, just below the entry points: an erasure reaches every layer's
tables and files (raw, marts, ml, the outbox, reports and their MLflow copies)."""
