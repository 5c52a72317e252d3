"""Engines that compute the shared SQL feature definitions (DuckDB, Spark)."""
