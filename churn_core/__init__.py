"""Churn early warning from raw e-commerce event logs.

The public API a notebook needs, importable from here (``import churn_core as cc``)::

    log = cc.load_events("orders.csv")            # or cc.load_demo(): the bundled UCI log
    run = cc.train(log, cc.ChurnConfig().with_(label={"horizon_days": 90}))
    run.scores, run.cv.summary, run.targets("top_k", top_k=100)
    cc.explain_run(run).global_drivers()
    cc.evaluate(log, config, cutoff)              # a true forecast check after ``cutoff``

Names are resolved on first use (module ``__getattr__``), so ``import churn_core`` stays
light: pandas, scikit-learn, torch, transformers, shap load only with the functions that
need them, and the core never imports streamlit.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from churn_core.errors import EventDataError, ModelBundleError

# public name -> module that defines it
_LAZY = {
    # configuration (frozen dataclasses shared by the app and the CLI)
    "ChurnConfig": "churn_core.config",
    "EncoderConfig": "churn_core.config",
    "LabelSpec": "churn_core.config",
    "ModelConfig": "churn_core.config",
    "SchemaConfig": "churn_core.config",
    "TargetingConfig": "churn_core.config",
    # events in
    "EventLog": "churn_core.events",
    "ValidationReport": "churn_core.events",
    "load_events": "churn_core.ingest",
    "load_demo": "churn_core.datasets",
    "demo_path": "churn_core.datasets",
    "synthetic_log": "churn_core.datasets",
    # labels
    "build_labels": "churn_core.labels",
    "label_summary": "churn_core.labels",
    "training_cutoffs": "churn_core.labels",
    "thin_data_warning": "churn_core.labels",
    # train, score, explain, evaluate
    "ChurnRun": "churn_core.pipeline",
    "train": "churn_core.pipeline",
    "score_users": "churn_core.pipeline",
    "TargetList": "churn_core.targets",
    "Explanation": "churn_core.explain",
    "explain_run": "churn_core.explain",
    "evaluate": "churn_core.evaluation",
    # model bundles on disk
    "save_model": "churn_core.bundle",
    "load_model": "churn_core.bundle",
}

__all__ = [
    "ChurnConfig",
    "ChurnRun",
    "EncoderConfig",
    "EventDataError",
    "EventLog",
    "Explanation",
    "LabelSpec",
    "ModelBundleError",
    "ModelConfig",
    "SchemaConfig",
    "TargetList",
    "TargetingConfig",
    "ValidationReport",
    "build_labels",
    "demo_path",
    "evaluate",
    "explain_run",
    "label_summary",
    "load_demo",
    "load_events",
    "load_model",
    "save_model",
    "score_users",
    "synthetic_log",
    "thin_data_warning",
    "train",
    "training_cutoffs",
]


def __getattr__(name: str) -> Any:
    """Import the defining module of a public name on first use, then cache the name here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'churn_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from churn_core.bundle import load_model, save_model
    from churn_core.config import (
        ChurnConfig,
        EncoderConfig,
        LabelSpec,
        ModelConfig,
        SchemaConfig,
        TargetingConfig,
    )
    from churn_core.datasets import demo_path, load_demo, synthetic_log
    from churn_core.evaluation import evaluate
    from churn_core.events import EventLog, ValidationReport
    from churn_core.explain import Explanation, explain_run
    from churn_core.ingest import load_events
    from churn_core.labels import build_labels, label_summary, thin_data_warning, training_cutoffs
    from churn_core.pipeline import ChurnRun, score_users, train
    from churn_core.targets import TargetList
