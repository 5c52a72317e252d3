"""Fuzz settings: derandomized (same cases every run), bounded so CI stays fast.

``CHURN_FUZZ_EXAMPLES=N`` multiplies nothing else: it sets ``max_examples`` of every fuzz
test to N for a long local run (``CHURN_FUZZ_EXAMPLES=5000 pytest tests/fuzz``).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

CI_EXAMPLES = {"ingest": 400, "cli_score": 60, "cli_train": 6}


def examples(kind: str) -> int:
    """``max_examples`` for one fuzz test: the CI figure, or ``CHURN_FUZZ_EXAMPLES``."""
    env = os.environ.get("CHURN_FUZZ_EXAMPLES")
    if not env:
        return CI_EXAMPLES[kind]
    n = int(env)
    return max(1, n // 10) if kind == "cli_train" else n


settings.register_profile(
    "churn-fuzz",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)
settings.load_profile("churn-fuzz")
