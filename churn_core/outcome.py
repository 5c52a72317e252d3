"""Did the campaign work? Realised churn of the listed users, uplift, and forecast quality.

A listed user churned when they have no qualifying activity (the label's activity events:
by default every event but cancellations) in ``[T, T + H)``, ``T`` the campaign's as-of
time. From the campaign file and later events:

* realised churn per risk tier and per group (``treat`` / ``control``), each with a 95 %
  Wilson score interval;
* uplift = control churn rate − treated churn rate, with a 95 % confidence interval by
  Newcombe's hybrid score method (method 10 of Newcombe 1998, Statistics in Medicine
  17:873–890: Wilson intervals of the two rates combined), which keeps its coverage for
  the small control groups and rates near 0 or 1 where the Wald interval does not;
* incremental value = uplift × Σ V_i over the treated users (V_i the value of saving
  user i, as the plan used it; assumes the effect does not depend on the value), with the
  uplift's interval carried over, and the same minus the contact cost;
* the forecast's realised ROC-AUC and PR-AUC (churn positive) over all listed users found
  (both groups: the control group is untouched, the treated one was nudged, so read these
  with that in mind), and calibration per decile of predicted probability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churn_core.config import LabelSpec
from churn_core.errors import EventDataError
from churn_core.events import EventLog
from churn_core.labels import activity_mask, eligible_users
from churn_core.metrics import score_metrics
from churn_core.targets import TIERS

Z95 = 1.959963984540054
REQUIRED_COLUMNS = ("user_id", "churn_probability", "risk_tier", "group")
UPLIFT_METHOD = "Newcombe hybrid score interval (Wilson intervals of both rates), 95 %"
MAX_UNKNOWN_SHARE = 0.5


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (NaNs when ``n`` is 0)."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_difference(
    k1: int, n1: int, k2: int, n2: int, z: float = Z95
) -> tuple[float, float, float]:
    """``k1/n1 − k2/n2`` and its Newcombe hybrid score interval (estimate, low, high)."""
    if n1 <= 0 or n2 <= 0:
        return (math.nan, math.nan, math.nan)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, z)
    l2, u2 = wilson_interval(k2, n2, z)
    d = p1 - p2
    return (
        d,
        d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


@dataclass(frozen=True, eq=False)
class OutcomeReport:
    """The outcome of a campaign; ``to_dict`` is the CLI's ``--json`` object."""

    as_of: pd.Timestamp
    horizon_days: int
    users: pd.DataFrame  # listed users found: user_id, churn_probability, risk_tier, group, churned
    by_tier: pd.DataFrame
    by_group: pd.DataFrame
    uplift: tuple[float, float, float]  # estimate, ci_low, ci_high
    incremental: dict[str, float]
    roc_auc: float
    pr_auc: float
    calibration: pd.DataFrame
    excluded: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain JSON types; NaN as None."""

        def clean(v):
            if isinstance(v, (float, np.floating)):
                return None if not np.isfinite(v) else round(float(v), 6)
            if isinstance(v, (np.integer,)):
                return int(v)
            return v

        def records(frame: pd.DataFrame, key: str) -> dict:
            return {
                str(r[key]): {k: clean(v) for k, v in r.items() if k != key}
                for r in frame.to_dict("records")
            }

        est, lo, hi = self.uplift
        return {
            "as_of": f"{self.as_of:%Y-%m-%d %H:%M}",
            "horizon_days": self.horizon_days,
            "users": len(self.users),
            "churn_rate": clean(float(self.users["churned"].mean()) if len(self.users) else np.nan),
            "roc_auc": clean(self.roc_auc),
            "pr_auc": clean(self.pr_auc),
            "by_tier": records(self.by_tier, "risk_tier"),
            "by_group": records(self.by_group, "group"),
            "uplift": {
                "estimate": clean(est),
                "ci_low": clean(lo),
                "ci_high": clean(hi),
                "method": UPLIFT_METHOD,
            },
            "incremental": {k: clean(v) for k, v in self.incremental.items()},
            "calibration": [
                {k: clean(v) for k, v in r.items()} for r in self.calibration.to_dict("records")
            ],
            "excluded": dict(self.excluded),
        }

    def table(self) -> pd.DataFrame:
        """Tiers, groups and deciles in one long frame (``section``, ``name``, counts, rates)."""
        parts = []
        for section, frame, key in (
            ("risk_tier", self.by_tier, "risk_tier"),
            ("group", self.by_group, "group"),
            ("decile", self.calibration, "decile"),
        ):
            part = frame.rename(columns={key: "name"}).assign(section=section)
            part["name"] = part["name"].astype(str)
            parts.append(part)
        cols = ["section", "name", "users", "churned", "churn_rate", "ci_low", "ci_high"]
        out = pd.concat(parts, ignore_index=True)
        return out[[c for c in cols + ["mean_predicted"] if c in out]]

    def metadata(self) -> dict[str, str]:
        """The headline figures, for the exported report's metadata."""
        est, lo, hi = self.uplift
        meta = {
            "as_of": f"{self.as_of:%Y-%m-%d %H:%M}",
            "horizon_days": str(self.horizon_days),
            "users": str(len(self.users)),
            "roc_auc": f"{self.roc_auc:.6f}",
            "pr_auc": f"{self.pr_auc:.6f}",
            "uplift": f"{est:.6f}",
            "uplift_ci_low": f"{lo:.6f}",
            "uplift_ci_high": f"{hi:.6f}",
            "uplift_method": UPLIFT_METHOD,
        }
        meta.update({f"incremental_{k}": f"{v:.4f}" for k, v in self.incremental.items()})
        meta.update({f"not_counted ({k})": str(v) for k, v in self.excluded.items()})
        return meta

    def to_bytes(self, fmt: str, raw: bool = False) -> bytes:
        """CSV or XLSX bytes of :meth:`table` with :meth:`metadata`, via the export writer."""
        from churn_core.export import export_bytes

        return export_bytes(self.table(), fmt, self.metadata(), raw)

    def lines(self) -> list[str]:
        """The report in plain words (what the CLI prints)."""
        est, lo, hi = self.uplift
        end = self.as_of + pd.Timedelta(days=self.horizon_days)
        out = [
            f"outcome window: {self.as_of:%Y-%m-%d} to {end:%Y-%m-%d} ({self.horizon_days} days); "
            f"{len(self.users):,} listed users, realised churn {self.users['churned'].mean():.1%}",
            f"forecast: ROC-AUC {self.roc_auc:.3f}, PR-AUC {self.pr_auc:.3f} (churn positive)",
            "",
            "by risk tier:",
            self.by_tier.round(4).to_string(index=False),
            "",
            "by group:",
            self.by_group.round(4).to_string(index=False),
            "",
            f"uplift (control churn - treated churn): {est:+.4f}, 95 % CI [{lo:+.4f}, {hi:+.4f}] "
            f"({UPLIFT_METHOD})",
        ]
        inc = self.incremental
        if np.isfinite(inc.get("value", np.nan)):
            out.append(
                f"incremental churners kept: {inc['churners']:,.1f}; incremental value "
                f"{inc['value']:,.2f} [{inc['value_ci_low']:,.2f}, {inc['value_ci_high']:,.2f}]; "
                f"minus contact cost {inc['contact_cost']:,.2f}: {inc['net']:,.2f}"
            )
        out += ["", "calibration per decile:", self.calibration.round(4).to_string(index=False)]
        out += [f"not counted: {n:,} listed users ({why})" for why, n in self.excluded.items()]
        return out


def _value_of(meta: dict[str, str], frame: pd.DataFrame) -> np.ndarray | None:
    """V_i as the plan used it: a flat value, or value_at_risk / p."""
    text = meta.get("value", "")
    if text.startswith("per user") and "value_at_risk" in frame:
        p = frame["churn_probability"].to_numpy(dtype=np.float64)
        var = frame["value_at_risk"].to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(p > 0, var / p, 0.0)
    try:
        return np.full(len(frame), float(text.split()[0]))
    except (ValueError, IndexError):
        return None


def _meta_float(meta: dict[str, str], key: str) -> float:
    try:
        return float(meta.get(key, "nan"))
    except ValueError:
        return math.nan


def outcome_report(
    log: EventLog,
    campaign: pd.DataFrame,
    metadata: dict[str, str] | None = None,
    horizon_days: int | None = None,
    as_of: pd.Timestamp | None = None,
    activity_events: tuple[str, ...] | None = None,
) -> OutcomeReport:
    """Grade a campaign file (as :func:`churn_core.export.read_export` returns it) against
    the events; raises ``EventDataError`` naming the fix for unusable combinations."""
    meta = dict(metadata or {})
    missing = [c for c in REQUIRED_COLUMNS if c not in campaign]
    if missing:
        raise EventDataError(
            [
                f"The campaign file has no {', '.join(missing)} column(s) (found: "
                f"{', '.join(map(str, campaign.columns[:8]))}). Use the file written by "
                "`python -m churn_core campaign`."
            ]
        )
    if as_of is None:
        if not meta.get("as_of"):
            raise EventDataError(
                ["The campaign file does not say its as-of time: pass --as-of T (e.g. 2011-09-10)."]
            )
        try:
            as_of = pd.Timestamp(meta["as_of"])
        except ValueError:
            raise EventDataError(
                [f"The campaign file's as_of {meta['as_of']!r} is not a date: pass --as-of T."]
            ) from None
    as_of = pd.Timestamp(as_of)
    if horizon_days is None:
        try:
            horizon_days = int(float(meta["horizon_days"]))
        except (KeyError, ValueError):
            raise EventDataError(
                ["Say how long the outcome window is: --horizon-days H (e.g. 90)."]
            ) from None
    spec = LabelSpec(horizon_days=int(horizon_days), activity_events=activity_events)
    end = as_of + pd.Timedelta(days=spec.horizon_days)
    one_day = pd.Timedelta(days=1)
    if log.n_events == 0 or log.end < end - one_day:
        last = "no events" if log.n_events == 0 else f"events end {log.end:%Y-%m-%d}"
        raise EventDataError(
            [
                f"The outcome window {as_of:%Y-%m-%d} to {end:%Y-%m-%d} is not complete: the "
                f"{last}. Load events up to {end:%Y-%m-%d}, or use a shorter --horizon-days."
            ]
        )
    if log.start > as_of + one_day:
        raise EventDataError(
            [
                f"The events start {log.start:%Y-%m-%d}, after the campaign's as-of time "
                f"{as_of:%Y-%m-%d}: the outcome window must be inside the events. Load the "
                "events from the as-of time on (or pass the right --as-of)."
            ]
        )

    listed = campaign.copy()
    listed["user_id"] = listed["user_id"].astype(str)
    listed["churn_probability"] = pd.to_numeric(listed["churn_probability"], errors="coerce")
    excluded: dict[str, int] = {}
    bad_p = listed["churn_probability"].isna() | ~listed["churn_probability"].between(0, 1)
    if bad_p.any():
        excluded["churn_probability missing or outside 0-1"] = int(bad_p.sum())
        listed = listed.loc[~bad_p]
    dup = listed["user_id"].duplicated()
    if dup.any():
        excluded["user listed twice (first row kept)"] = int(dup.sum())
        listed = listed.loc[~dup]
    frame = log.frame
    ts = frame["timestamp"].to_numpy()
    has_history = bool((ts < np.datetime64(as_of)).any())
    if has_history:
        known = eligible_users(log, spec, as_of)
        why = "no qualifying activity before the as-of time in these events"
    else:  # outcome-only events: every listed user is in the population
        known = pd.Index(frame["user_id"].unique())
        why = "never seen in these events"
    found = listed["user_id"].isin(known).to_numpy()
    if len(listed) and (found.sum() == 0 or 1 - found.mean() > MAX_UNKNOWN_SHARE):
        raise EventDataError(
            [
                f"{int((~found).sum()):,} of {len(listed):,} listed users are not in these "
                f"events ({why}): the campaign file seems to come from another log. Pass the "
                "events of the shop the campaign was planned on (with the mapping flags used "
                "then)."
            ]
        )
    if (~found).any():
        excluded[why] = int((~found).sum())
    listed = listed.loc[found].reset_index(drop=True)

    in_window = ((ts >= np.datetime64(as_of)) & (ts < np.datetime64(end))) & activity_mask(
        frame, spec
    )
    active = pd.Index(frame.loc[in_window, "user_id"].unique())
    listed["churned"] = (~listed["user_id"].isin(active)).astype(np.int64)
    y = listed["churned"].to_numpy()
    p = listed["churn_probability"].to_numpy(dtype=np.float64)
    m = score_metrics(y, p, 0.5) if len(y) else {"roc_auc": math.nan, "pr_auc": math.nan}

    by_tier = _rates(listed, "risk_tier", [t for t in TIERS if t in set(listed["risk_tier"])])
    by_group = _rates(
        listed, "group", [g for g in ("treat", "control") if g in set(listed["group"])]
    )
    counts = listed.groupby("group")["churned"].agg(["sum", "size"])
    kc, nc = (
        int(counts.loc["control", c]) if "control" in counts.index else 0 for c in ("sum", "size")
    )
    kt, nt = (
        int(counts.loc["treat", c]) if "treat" in counts.index else 0 for c in ("sum", "size")
    )
    uplift = newcombe_difference(kc, nc, kt, nt)
    incremental = _incremental(meta, listed, uplift, nt)
    return OutcomeReport(
        as_of,
        spec.horizon_days,
        listed[[*REQUIRED_COLUMNS, "churned"]],
        by_tier,
        by_group,
        uplift,
        incremental,
        m["roc_auc"],
        m["pr_auc"],
        _calibration(listed),
        excluded,
    )


def _rates(frame: pd.DataFrame, key: str, order: list[str]) -> pd.DataFrame:
    rows = []
    for name in order:
        part = frame.loc[frame[key] == name]
        k, n = int(part["churned"].sum()), len(part)
        lo, hi = wilson_interval(k, n)
        rows.append(
            {
                key: name,
                "users": n,
                "churned": k,
                "churn_rate": k / n if n else math.nan,
                "ci_low": lo,
                "ci_high": hi,
                "mean_predicted": float(part["churn_probability"].mean()) if n else math.nan,
            }
        )
    cols = [key, "users", "churned", "churn_rate", "ci_low", "ci_high", "mean_predicted"]
    return pd.DataFrame(rows, columns=cols)


def _incremental(
    meta: dict[str, str], listed: pd.DataFrame, uplift: tuple[float, float, float], n_treat: int
) -> dict[str, float]:
    est, lo, hi = uplift
    treat = listed.loc[listed["group"] == "treat"]
    values = _value_of(meta, treat)
    total = float(values.sum()) if values is not None else math.nan
    cost = _meta_float(meta, "contact_cost") * n_treat
    return {
        "treated": float(n_treat),
        "churners": est * n_treat,
        "churners_ci_low": lo * n_treat,
        "churners_ci_high": hi * n_treat,
        "value": est * total,
        "value_ci_low": lo * total,
        "value_ci_high": hi * total,
        "contact_cost": cost,
        "net": est * total - cost,
    }


def _calibration(listed: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Predicted vs realised churn per decile of predicted probability (1 = lowest)."""
    cols = ["decile", "users", "mean_predicted", "churn_rate"]
    if len(listed) == 0:
        return pd.DataFrame(columns=cols)
    p = listed["churn_probability"]
    ranks = p.rank(method="first")
    decile = np.ceil(ranks / len(p) * bins).clip(1, bins).astype(int)
    g = listed.groupby(decile.to_numpy())
    out = pd.DataFrame(
        {
            "decile": g.size().index.astype(int),
            "users": g.size().to_numpy(),
            "mean_predicted": g["churn_probability"].mean().to_numpy(),
            "churn_rate": g["churned"].mean().to_numpy(),
        }
    )
    return out[cols]
