"""The bottom layer: settings, names, the warehouse connection and the DDL of every table the
Python steps write. Imports nothing else of the product."""
