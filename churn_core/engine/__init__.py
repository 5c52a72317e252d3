"""Feature and label definitions written once as SQL, and the engines that run them.

``sql`` holds the definitions (SQL text over the canonical relation ``events``), ``derive``
the pandas step every engine shares, ``duck`` the DuckDB engine, ``source`` the
:class:`~churn_core.engine.source.EventSource` the pipeline reads from.
"""
