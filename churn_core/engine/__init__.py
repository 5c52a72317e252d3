"""Engines that compute features with one SQL text: DuckDB (in memory or out of core), Spark."""
