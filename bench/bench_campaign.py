"""A retention campaign for N users (default 100k) and its outcome report, next to scoring them.

A seeded synthetic log (``churn_core.datasets.synthetic_events``, N users, 240 days) is
planned on as of day 214 with a 25-day horizon; the model is trained on a 5k-user log from
the same generator (training cost is not the subject here). Timed in the same run:

* scoring every user seen before T (``scoring_table`` + ``score_table``): the baseline;
* the plan (profit curve over every list size, control group, list) from those scores;
* explaining the listed users (reasons and actions) and recommending items (when the
  recommender is present), i.e. the rest of ``build_campaign``;
* writing the list as CSV and as XLSX through the formula-safe writer;
* reading it back and the outcome report against the events of [T, T+25 d).

Run with 2 cores:  taskset -c 0,1 python bench/bench_campaign.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
H_DAYS_BEFORE_END = 214  # as-of day of the 240-day log: churn has started (day 180)
HORIZON = 25


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(n_users: int = 100_000) -> None:
    from churn_core.campaign import plan_campaign, recommended_items
    from churn_core.config import ChurnConfig
    from churn_core.datasets import SYNTH_START, synthetic_log
    from churn_core.explain import explain_model, sample_background
    from churn_core.export import read_export
    from churn_core.outcome import outcome_report
    from churn_core.pipeline import score_table, train
    from churn_core.table import scoring_table

    as_of = SYNTH_START + pd.Timedelta(days=H_DAYS_BEFORE_END)
    cfg = ChurnConfig().with_(label={"horizon_days": HORIZON})
    small = synthetic_log(n_users=5_000, seed=1, events_per_user=10.0)
    run = train(small.before(as_of), cfg, as_of)
    model = run.model
    log, t_gen = _timed(lambda: synthetic_log(n_users=n_users, seed=2, events_per_user=10.0))
    hist = log.before(as_of)

    def score():
        table = scoring_table(hist, as_of, model.event_types, model.max_events, HORIZON)
        return table, score_table(model, table, cfg, hist.has_amount, as_of)[0]

    (table, scores), t_score = _timed(score)
    meta = {"as_of": f"{as_of:%Y-%m-%d %H:%M}", "horizon_days": str(HORIZON)}
    draft, t_plan = _timed(lambda: plan_campaign(scores, cfg.campaign, metadata=meta))
    listed = draft.users["user_id"].to_numpy()
    ids = pd.Index(table.user_id.astype(str))

    def explain():
        X = table.X.iloc[ids.get_indexer(listed)]
        return explain_model(model, X, listed, sample_background(table.X))

    expl, t_explain = _timed(explain)
    recs, t_recs = _timed(lambda: recommended_items(hist, as_of, listed))
    plan, t_final = _timed(
        lambda: plan_campaign(
            scores, cfg.campaign, explanation=expl, recommendations=recs, metadata=meta
        )
    )
    with tempfile.TemporaryDirectory() as d:
        csv, t_csv = _timed(lambda: plan.write(Path(d) / "list.csv"))
        _, t_xlsx = _timed(lambda: plan.write(Path(d) / "list.xlsx"))
        (m, frame), t_read = _timed(lambda: read_export(csv))
    report, t_outcome = _timed(lambda: outcome_report(log, frame, m))

    s = plan.summary()
    print(
        f"{n_users:,} users generated ({log.n_events:,} events, {t_gen:.1f} s); "
        f"{len(scores):,} scored as of {as_of:%Y-%m-%d}; list {plan.size:,} "
        f"({int(s['treated']):,} treat / {int(s['control']):,} control); "
        f"recommendations: {'yes' if recs is not None else 'not available'}; "
        f"outcome uplift {report.uplift[0]:+.3f}, ROC-AUC {report.roc_auc:.3f}\n"
    )
    rows = [
        ("scoring (baseline)", t_score),
        ("plan: curve over every size, control group, list", t_plan),
        ("explain the listed users (reasons, actions)", t_explain),
        ("recommend items for the listed users", t_recs),
        ("plan again with reasons/actions/items", t_final),
        ("write CSV (formula-safe)", t_csv),
        ("write XLSX (formula-safe, string cells)", t_xlsx),
        ("read the CSV back", t_read),
        ("outcome report", t_outcome),
        ("campaign total (plan + explain + recommend + plan + CSV)", None),
    ]
    total = t_plan + t_explain + t_recs + t_final + t_csv
    print("| stage | seconds | × scoring |\n|---|---|---|")
    for name, t in rows:
        t = total if t is None else t
        print(f"| {name} | {t:.2f} | {t / t_score:.2f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
