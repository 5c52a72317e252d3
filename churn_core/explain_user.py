"""One user at a time: the ``explain`` command's text and sequence occlusion.

Occlusion explains the Transformer through behaviour: remove one event type, or the most
recent days, from a user's sequence and measure how the churn probability moves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn_core.explain import explain_model, sample_background
from churn_core.table import SEQUENCE_COLUMN

__all__ = ["explain_user_text", "sequence_occlusion"]


def sequence_occlusion(
    model, X_user_rows: pd.DataFrame, user_ids=None, windows: tuple[int, ...] = (7, 30)
) -> pd.DataFrame:
    """Change in churn probability when parts of the ``sequence`` column are removed.

    For each row: drop all events of one type (each type present), or the events of the
    last ``w`` days (each ``w`` in ``windows``), re-score with the aggregates unchanged, and
    report ``user_id, removed, churn_probability, change`` (occluded minus original).
    Only for models with a sequence encoder.
    """
    from churn_core.sequences import EventSequence

    if model.max_events is None or SEQUENCE_COLUMN not in X_user_rows:
        raise ValueError("sequence_occlusion needs a model with a sequence encoder.")
    ids = list(X_user_rows.index if user_ids is None else np.asarray(user_ids).astype(str))
    base = model.predict_proba(X_user_rows)
    variants, meta = [], []
    for i, (uid, (_, row)) in enumerate(zip(ids, X_user_rows.iterrows())):
        seq: EventSequence = row[SEQUENCE_COLUMN]
        masks = [(f"all '{t}' events", seq.event_type != t) for t in np.unique(seq.event_type)]
        masks += [(f"events in the last {w} days", seq.age_days >= w) for w in windows]
        for label, keep in masks:
            new = row.copy()
            new[SEQUENCE_COLUMN] = seq.select(keep)
            variants.append(new)
            meta.append((uid, label, int((~keep).sum()), base[i]))
    cols = ["user_id", "removed", "n_removed", "churn_probability", "change"]
    if not variants:
        return pd.DataFrame(columns=cols)
    p = model.predict_proba(pd.DataFrame(variants).reset_index(drop=True))
    out = pd.DataFrame(meta, columns=["user_id", "removed", "n_removed", "original"])
    out["churn_probability"] = p
    out["change"] = p - out.pop("original")
    return out[cols]


def explain_user_text(model, log, as_of: pd.Timestamp, config, user_id: str) -> str:
    """One user's probability, tier, waterfall and reasons as text (``explain`` command).

    Raises EventDataError when the user has no events before ``as_of``.
    """
    from churn_core.errors import EventDataError
    from churn_core.table import scoring_table
    from churn_core.targets import risk_tier

    table = scoring_table(
        log, as_of, model.event_types, model.max_events, config.label.horizon_days
    )
    ids = pd.Index(table.user_id.astype(str))
    uid = str(user_id)
    pos = ids.get_indexer([uid])[0]
    if pos < 0:
        raise EventDataError(
            [
                f"User {uid!r} has no events before {as_of:%Y-%m-%d} in this log; user ids "
                "are listed in the user_id column of `python -m churn_core score EVENTS "
                "--model-dir DIR --out scores.csv`."
            ]
        )
    X_user = table.X.iloc[[pos]]
    prob = float(model.predict_proba(X_user)[0])
    tier = risk_tier(np.array([prob]), config.targeting.tier_cuts)[0]
    expl = explain_model(model, X_user, [uid], sample_background(table.X))
    wf = expl.waterfall(uid)
    top = wf.head(12).copy()
    if len(wf) > len(top):
        rest = wf.iloc[len(top) :]
        other = {
            "factor": f"other factors ({len(rest)})",
            "value": np.nan,
            "contribution": rest["contribution"].sum(),
        }
        top = pd.concat([top, pd.DataFrame([other])], ignore_index=True)
    top["value"] = top["value"].map(lambda v: "" if pd.isna(v) else f"{v:,.4g}")
    top["contribution"] = top["contribution"].map(lambda v: f"{v:+.4f}")
    lines = [
        f"user {uid} as of {as_of:%Y-%m-%d}",
        f"churn probability: {prob:.1%} (tier: {tier})",
        "",
        f"contributions to the uncalibrated score ({expl.units}): "
        f"base {wf.attrs['base_value']:+.4f} -> output {wf.attrs['output']:+.4f}",
        top.to_string(index=False),
        "",
        "reasons:",
    ]
    reasons = [r for r in expl.reasons.loc[uid] if r]
    lines += [f"  {i + 1}. {r}" for i, r in enumerate(reasons)] or ["  (none)"]
    if model.max_events is not None:
        occ = sequence_occlusion(model, X_user, [uid])
        occ = occ.drop(columns="user_id").round(4)
        lines += ["", "effect of removing parts of the event sequence:", occ.to_string(index=False)]
    if log.has_items:
        from churn_core.recommend import recommend_items

        recs = [x for x in recommend_items(log, as_of, [uid]).iloc[0] if x is not None]
        lines += ["", "recommended items: " + (", ".join(recs) or "(none)")]
    return "\n".join(lines)
