"""Fuzz settings: derandomized (the same cases every run), bounded so CI stays fast.

``CHURN_FUZZ_EXAMPLES=N`` turns a run into a long local one: N ingest cases and shares of N
for the slower CLI tests (see ``examples``), without shrinking (``CHURN_FUZZ_EXAMPLES=10000
nice pytest tests/fuzz --hypothesis-show-statistics``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, settings

AS_OF = pd.Timestamp("2023-10-01")

CI_EXAMPLES = {"ingest": 400, "plausible": 100, "cli_score": 60, "cli_train": 6}
_LONG_SHARE = {"ingest": 1.0, "plausible": 0.25, "cli_score": 0.02, "cli_train": 0.002}
LONG_RUN = bool(os.environ.get("CHURN_FUZZ_EXAMPLES"))


def examples(kind: str) -> int:
    """``max_examples`` for one fuzz test: the CI figure, or a share of ``CHURN_FUZZ_EXAMPLES``
    (all of it for ingest, 1/4 for plausible logs, 1/50 for CLI score, 1/500 for CLI train)."""
    if not LONG_RUN:
        return CI_EXAMPLES[kind]
    return max(CI_EXAMPLES[kind], int(int(os.environ["CHURN_FUZZ_EXAMPLES"]) * _LONG_SHARE[kind]))


settings.register_profile(
    "churn-fuzz",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    # a long run reports every failure it meets without spending hours shrinking them
    phases=[Phase.explicit, Phase.generate] if LONG_RUN else list(Phase),
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)
settings.load_profile("churn-fuzz")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A small trained model bundle (30-day horizon) to score fuzzed files with."""
    from churn_core.bundle import save_model
    from churn_core.config import ChurnConfig
    from churn_core.pipeline import train
    from tests.core.test_leakage import _base_log

    run = train(_base_log(n_users=80), ChurnConfig().with_(label={"horizon_days": 30}), AS_OF)
    out = tmp_path_factory.mktemp("bundle")
    save_model(run.model, run.config, out, as_of=AS_OF, metrics={}, threshold=run.threshold)
    return out
