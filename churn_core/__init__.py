"""Churn early warning from raw e-commerce event logs.

Heavy libraries (torch, transformers, shap) are imported only by the modules that need
them, so ``import churn_core`` and ``--help`` stay fast.
"""

from churn_core.config import (
    ChurnConfig,
    EncoderConfig,
    LabelSpec,
    ModelConfig,
    SchemaConfig,
    TargetingConfig,
)
from churn_core.errors import EventDataError, ModelBundleError
from churn_core.events import EventLog, ValidationReport
from churn_core.labels import build_labels, label_summary, training_cutoffs

__all__ = [
    "ChurnConfig",
    "EncoderConfig",
    "EventDataError",
    "EventLog",
    "LabelSpec",
    "ModelBundleError",
    "ModelConfig",
    "SchemaConfig",
    "TargetingConfig",
    "ValidationReport",
    "build_labels",
    "label_summary",
    "training_cutoffs",
]
