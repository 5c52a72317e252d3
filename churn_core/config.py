"""One configuration object, shared by the app and the CLI.

Every part is a frozen dataclass: the UI edits a copy with ``dataclasses.replace`` and the
CLI builds one from flags or a TOML file (``ChurnConfig.from_toml``).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

CLASSIFIERS = ("logreg", "svm", "hgb", "rf")
ENCODERS = ("none", "transformer", "hybrid", "text")
CALIBRATIONS = ("sigmoid", "isotonic", "none")
# quarters: thirds + BG/NBD's own forecast (not fitted); thirds: spline logreg, linear logreg and
# RFM + logreg; rfm: spline logreg and RFM + logreg (docs/quality.md)
BLENDS = ("quarters", "thirds", "rfm", "none")
THRESHOLD_RULES = ("max_f1", "top_k", "probability")
TIER_BASES = ("relative", "probability")
# where events are read and features computed: local = in memory (pandas), duckdb = out of
# core, spark = PySpark (local mode, or the cluster spark-submit configured)
ENGINES = ("local", "duckdb", "spark")


@dataclass(frozen=True)
class SchemaConfig:
    """How raw columns map onto the canonical event columns.

    Every field left ``None`` is auto-detected. ``event_map`` renames raw event values
    (e.g. Tmall's numeric codes ``(("0", "view"), ("1", "purchase"))``). The fields are the
    rows of ``churn_core.fields.MAPPING_FIELDS`` (a test keeps the two in step).
    """

    user_col: str | None = None
    time_col: str | None = None
    event_col: str | None = None
    amount_col: str | None = None
    item_col: str | None = None
    category_col: str | None = None
    quantity_col: str | None = None
    price_col: str | None = None
    invoice_col: str | None = None  # e.g. InvoiceNo; a "C" prefix marks a cancellation
    time_format: str | None = None
    year: int | None = None  # for dates written without a year, e.g. Tmall's "6-4"
    event_map: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LabelSpec:
    """What churn means: no qualifying activity in ``[T + gap, T + gap + horizon)``.

    ``activity_events`` ``None`` means every event type except cancellations/returns.
    Eligible users have at least one event before ``T`` and, when ``active_within_days``
    is set, one within that many days before ``T``. Training cutoffs are
    ``T_k = as_of - gap - horizon - k * step`` for ``k < n_cutoffs``.
    """

    horizon_days: int = 90
    activity_events: tuple[str, ...] | None = None
    gap_days: int = 0
    active_within_days: int | None = None
    n_cutoffs: int = 4
    step_days: int | None = None  # None: max(7, horizon // 3)

    def __post_init__(self) -> None:
        if not 1 <= int(self.horizon_days) <= 365:
            raise ValueError(f"horizon_days must be between 1 and 365, got {self.horizon_days}.")
        if self.gap_days < 0:
            raise ValueError(f"gap_days must be 0 or more, got {self.gap_days}.")
        if self.n_cutoffs < 1:
            raise ValueError(f"n_cutoffs must be at least 1, got {self.n_cutoffs}.")
        if self.step_days is not None and self.step_days < 1:
            raise ValueError(f"step_days must be at least 1, got {self.step_days}.")
        if self.active_within_days is not None and self.active_within_days < 1:
            raise ValueError(
                f"active_within_days must be at least 1, got {self.active_within_days}."
            )

    @property
    def step(self) -> int:
        return int(self.step_days or max(7, self.horizon_days // 3))


@dataclass(frozen=True)
class EncoderConfig:
    """The behaviour-sequence encoder (Transformer) and its training."""

    kind: str = "none"  # one of ENCODERS
    path: str | None = None  # local folder of a pretrained text model (kind="text")
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 256
    max_events: int = 128
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 1e-3
    max_train_users: int = 4_000  # users sampled for self-supervised pre-training
    objective: str = "mlm+coles"  # masked-event modelling, plus CoLES contrastive views
    pooling: str = "cls"  # "cls" summary token or "mean"
    finetune_epochs: int = 0  # supervised fine-tuning on the churn label (0 = off)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ENCODERS:
            raise ValueError(
                f"encoder kind must be one of {', '.join(ENCODERS)}; got {self.kind!r}."
            )
        if self.objective not in ("mlm", "mlm+coles"):
            raise ValueError(f"encoder objective must be mlm or mlm+coles; got {self.objective!r}.")
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"encoder pooling must be cls or mean; got {self.pooling!r}.")
        if self.hidden_size % self.num_heads:
            raise ValueError("encoder hidden_size must be a multiple of num_heads.")
        if self.finetune_epochs < 0:
            raise ValueError(
                f"encoder finetune_epochs must be 0 (off) or more, got {self.finetune_epochs}."
            )


@dataclass(frozen=True)
class ModelConfig:
    """Classifier, its hyperparameters, calibration and validation."""

    classifier: str = "logreg"  # one of CLASSIFIERS; logreg won the out-of-time comparison
    C: float = 0.01  # logreg / svm inverse regularisation (strong: few, correlated features)
    spline_knots: int = 4  # logreg / svm: spline basis per feature (GAM-style); 0 = linear
    blend: str = "quarters"  # logreg, no encoder: average log-odds with simpler members (BLENDS)
    clip_to_training: bool = True  # linear models: clip scored features to the training range
    max_depth: int | None = 4  # hgb / rf
    learning_rate: float = 0.05  # hgb
    n_estimators: int = 300  # hgb max_iter / rf trees
    min_samples_leaf: int = 40  # hgb / rf
    class_weight: str | None = None  # None or "balanced"
    calibration: str = "sigmoid"  # one of CALIBRATIONS
    cv_folds: int = 5
    max_cv_rows: int = 30_000  # CV/backtest/search on a user sample this big; final fit: all
    search: bool = False
    search_iter: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise ValueError(
                f"classifier must be one of {', '.join(CLASSIFIERS)}; got {self.classifier!r}."
            )
        if self.calibration not in CALIBRATIONS:
            raise ValueError(
                f"calibration must be one of {', '.join(CALIBRATIONS)}; got {self.calibration!r}."
            )
        if self.spline_knots and self.spline_knots < 2:
            raise ValueError(
                f"spline_knots must be 0 (off) or at least 2, got {self.spline_knots}."
            )
        if self.blend not in BLENDS:
            raise ValueError(f"blend must be one of {', '.join(BLENDS)}; got {self.blend!r}.")
        if self.cv_folds < 2:
            raise ValueError(f"cv_folds must be at least 2, got {self.cv_folds}.")


@dataclass(frozen=True)
class TargetingConfig:
    """Risk tiers and how the flagged list is chosen.

    ``tier_basis`` ``relative`` (default): a user is ``medium`` at or above
    ``relative_tier_cuts[0]`` times the average churn probability of the scored users and
    ``high`` at or above ``relative_tier_cuts[1]`` times it (at most halfway from the medium
    cut to 1), so tiers mean something for a shop whose churn rate is 6 % as much as for one
    whose rate is 45 %. ``probability``:
    the fixed probability cuts ``tier_cuts``.
    """

    tier_basis: str = "relative"  # one of TIER_BASES
    relative_tier_cuts: tuple[float, float] = (1.0, 2.0)  # x the average churn probability
    tier_cuts: tuple[float, float] = (0.3, 0.6)  # basis "probability": low < c0 <= medium < c1
    threshold_rule: str = "max_f1"  # one of THRESHOLD_RULES
    top_k: int = 100
    probability: float = 0.5

    def __post_init__(self) -> None:
        lo, hi = self.tier_cuts
        if not 0 < lo < hi < 1:
            raise ValueError(f"tier_cuts must satisfy 0 < low < high < 1, got {self.tier_cuts}.")
        lo, hi = self.relative_tier_cuts
        if not 0 < lo < hi:
            raise ValueError(
                f"relative_tier_cuts must satisfy 0 < low < high, got {self.relative_tier_cuts}."
            )
        if self.tier_basis not in TIER_BASES:
            raise ValueError(
                f"tier_basis must be one of {', '.join(TIER_BASES)}; got {self.tier_basis!r}."
            )
        if self.threshold_rule not in THRESHOLD_RULES:
            raise ValueError(
                f"threshold_rule must be one of {', '.join(THRESHOLD_RULES)}; "
                f"got {self.threshold_rule!r}."
            )


@dataclass(frozen=True)
class ActionRule:
    """One row of the campaign's action table: ``action`` for a listed user when one of
    ``factors`` (feature names; ``*`` wildcards allowed, e.g. ``n_*_30d``) is among the
    risk-raising factors behind their reasons, and (when set) their value at risk is at or
    above the ``min_value_percentile``-th percentile of the listed users'. A rule with
    neither condition matches everyone. The first matching rule (table order) wins."""

    action: str
    factors: tuple[str, ...] = ()
    min_value_percentile: float | None = None

    def __post_init__(self) -> None:
        if not str(self.action).strip():
            raise ValueError("Every action rule needs a non-empty action name.")
        p = self.min_value_percentile
        if p is not None and not 0 <= p <= 100:
            raise ValueError(f"min_value_percentile must be between 0 and 100, got {p}.")


DEFAULT_ACTION_RULES = (
    ActionRule("personal contact", min_value_percentile=90.0),
    ActionRule(
        "win-back offer",
        (
            "recency_days",
            "days_since_purchase",
            "overdue_ratio",
            "recency_over_max_gap",
            "bgnbd_p_alive",
            "bgnbd_p_quiet",
        ),
    ),
    ActionRule("cart reminder", ("cart_to_purchase", "n_cart", "n_cart_30d", "days_since_cart")),
    ActionRule(
        "re-engagement content",
        (
            "events_*d",
            "active_days_*d",
            "trend_30_90",
            "trend_90_180",
            "decayed_days_*",
            "n_*_30d",
            "days_since_*",
        ),
    ),
)


def _rule(value: Any) -> ActionRule:
    """An ActionRule from itself, a mapping, or the (key, text) pairs TOML/JSON leave."""
    if isinstance(value, ActionRule):
        return value
    items = dict(value)
    bad = set(items) - {"action", "factors", "min_value_percentile"}
    if bad:
        raise ValueError(
            f"Unknown key(s) in a [campaign] actions rule: {', '.join(sorted(bad))}. "
            "Allowed: action, factors, min_value_percentile."
        )
    factors = items.get("factors", ())
    if isinstance(factors, str):
        factors = re.split(r"[\s,]+", re.sub(r"[\[\]()'\"]", " ", factors))
    pct = items.get("min_value_percentile")
    pct = None if pct in (None, "", "None", "nan") else float(pct)
    return ActionRule(str(items.get("action", "")), tuple(f for f in factors if f), pct)


@dataclass(frozen=True)
class CampaignConfig:
    """The retention campaign planner's inputs (``[campaign]`` in a TOML config).

    ``value`` is the value of saving one churner; ``None`` means each user's own value
    (their usual spend over the horizon, from amounts), and a log without amounts then
    needs a value. ``size`` fixes the list size (``None``: the profit-maximising size);
    ``budget`` caps the contact cost of the treated users. ``control_share`` of the list
    is held out, at random (``seed``) within each risk tier, and not contacted.
    """

    value: float | None = None
    contact_cost: float = 1.0
    save_rate: float = 0.2
    budget: float | None = None
    size: int | None = None
    control_share: float = 0.1
    seed: int = 0
    default_action: str = "standard retention email"
    actions: tuple[ActionRule, ...] = DEFAULT_ACTION_RULES

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", tuple(_rule(r) for r in self.actions))
        if self.value is not None and not self.value > 0:
            raise ValueError(f"value (of saving one churner) must be positive, got {self.value}.")
        if not self.contact_cost >= 0:
            raise ValueError(f"contact_cost must be 0 or more, got {self.contact_cost}.")
        if not 0 <= self.save_rate <= 1:
            raise ValueError(f"save_rate must be between 0 and 1, got {self.save_rate}.")
        if self.budget is not None and not self.budget >= 0:
            raise ValueError(f"budget must be 0 or more, got {self.budget}.")
        if self.size is not None and self.size < 0:
            raise ValueError(f"size must be 0 or more, got {self.size}.")
        if not 0 <= self.control_share < 1:
            raise ValueError(
                f"control_share must be at least 0 and below 1, got {self.control_share}."
            )
        if not str(self.default_action).strip():
            raise ValueError("default_action must be a non-empty action name.")


@dataclass(frozen=True)
class EngineConfig:
    """The engine that reads the log and computes features (``[engine]`` in a TOML config).

    ``kind`` ``local`` holds the validated log in memory (pandas); ``duckdb`` reads CSV,
    CSV.gz or (partitioned) Parquet out of core with ``threads`` (None: all cores),
    ``memory_limit`` (default ``"1536MB"``, beyond which DuckDB spills to disk, so a log of any
    size fits a laptop; None: DuckDB's own default, 80 % of RAM) and
    ``temp_directory`` (where it spills; None: DuckDB's default). ``sample_rows`` rows are
    read in pandas to detect the mapping; training uses whole users up to ``train_rows``
    events (a deterministic sample); scoring streams ``batch_users`` users at a time.
    """

    kind: str = "local"  # one of ENGINES
    threads: int | None = None
    memory_limit: str | None = "1536MB"
    temp_directory: str | None = None
    sample_rows: int = 50_000
    train_rows: int = 2_000_000
    batch_users: int = 50_000

    def __post_init__(self) -> None:
        if self.kind not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {self.kind!r}.")
        for name in ("sample_rows", "train_rows", "batch_users"):
            if getattr(self, name) < 1:
                raise ValueError(f"engine {name} must be at least 1, got {getattr(self, name)}.")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"engine threads must be at least 1, got {self.threads}.")


@dataclass(frozen=True)
class ChurnConfig:
    """Everything a run needs besides the events themselves."""

    schema: SchemaConfig = field(default_factory=SchemaConfig)
    label: LabelSpec = field(default_factory=LabelSpec)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    targeting: TargetingConfig = field(default_factory=TargetingConfig)
    campaign: CampaignConfig = field(default_factory=CampaignConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChurnConfig:
        """Build from a nested dict (TOML tables); unknown keys are an error, not ignored."""
        parts = {f.name: f.type for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        unknown = set(data) - set(parts)
        if unknown:
            raise ValueError(
                f"Unknown config section(s): {', '.join(sorted(unknown))}. Use: {', '.join(parts)}."
            )
        for name, section in data.items():
            klass = _SECTIONS[name]
            allowed = {f.name for f in fields(klass)}
            bad = set(section) - allowed
            if bad:
                raise ValueError(
                    f"Unknown key(s) in [{name}]: {', '.join(sorted(bad))}. "
                    f"Allowed: {', '.join(sorted(allowed))}."
                )
            kwargs[name] = klass(**{k: _tupled(v) for k, v in section.items()})
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | Path) -> ChurnConfig:
        with open(path, "rb") as fh:
            return cls.from_dict(tomllib.load(fh))

    def with_(self, **sections: Any) -> ChurnConfig:
        """Copy with some sections' fields replaced: ``cfg.with_(model={"C": 0.1})``."""
        new = {name: replace(getattr(self, name), **changes) for name, changes in sections.items()}
        return replace(self, **new)


def _tupled(value: Any) -> Any:
    """TOML arrays arrive as lists; frozen dataclasses want hashable tuples."""
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    if isinstance(value, dict):
        return tuple((str(k), str(v)) for k, v in value.items())
    return value


_SECTIONS = {
    "schema": SchemaConfig,
    "label": LabelSpec,
    "encoder": EncoderConfig,
    "model": ModelConfig,
    "targeting": TargetingConfig,
    "campaign": CampaignConfig,
    "engine": EngineConfig,
}
