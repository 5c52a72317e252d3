"""A deterministic sample of whole users, so that training on a big log has bounded rows.

Every event of a sampled user is kept (features and labels need a user's whole history);
users are drawn by a hash of their id and the seed, so the same log and seed always give
the same sample, whatever the row order of the file.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from churn_core.engine.source import EventSource, _Meta

logger = logging.getLogger(__name__)

_BUCKETS = 1_000_000


def sample_users(source: EventSource, max_events: int, seed: int = 0) -> EventSource:
    """``source`` restricted to a hash sample of users holding about ``max_events`` events.

    Returns ``source`` itself when it holds no more than ``max_events`` events. The sample
    is materialised on the engine (spilled to disk when large), bounded by ``until``.
    """
    n = source.n_events
    if n <= max_events:
        return source
    keep = max(1, int(_BUCKETS * max_events / n))
    name = f"{source.relation}_users_{seed}_{keep}"
    source.engine.materialize(
        name,
        f"SELECT * FROM {source.events} "
        # ABS: Spark's hash is a signed INT (DuckDB's an unsigned BIGINT, where ABS is a no-op)
        f"WHERE ABS(hash(user_id || '/{int(seed)}')) % {_BUCKETS} < {keep}",
    )
    counts = source.engine.frame(f"SELECT COUNT(*) AS n, COUNT(DISTINCT user_id) AS u FROM {name}")
    # the log's own start and end: features measured against the log, not the sample
    meta = _Meta(source.start, source.end, int(counts["n"].iloc[0]), int(counts["u"].iloc[0]))
    cache = {"meta": meta, "types": source.event_types}
    sample = replace(source, relation=name, until=None, frame=None, _cache=cache)
    logger.info(
        "training on a sample of whole users: %d of %d events (%d of %d users)",
        sample.n_events,
        n,
        sample.n_users,
        source.n_users,
    )
    return sample
