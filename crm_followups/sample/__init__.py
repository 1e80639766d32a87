"""Sample exports of any size for demos, tests and benchmarks (``generate``), written from
bilingual phrase templates (``phrases``)."""
