"""Odd-but-valid purchase logs through the referee and the project's exact CLI commands.

Usage::

    python bench/referee_shapes.py [--only CASE[,CASE]] [--work DIR] [--list] [--grid]

Each case (``bench/referee_cases.py``) builds a source log nobody tuned for: dates only, ISO
stamps with offsets, no amount, odd ids, very short training history, few or many customers,
nearly everyone or nobody churning, ``event_type`` columns, unsorted rows with duplicates. It
then runs, exactly like the referee judges a hidden log::

    reference.py events=SRC T H --write-prefix P
    python -m churn_core train P.events.csv --horizon-days H --as-of T --model-dir M
    python -m churn_core score P.events.csv --model-dir M --as-of T --out S.csv
    reference.py events=SRC T H --scores S.csv --no-bgnbd

and prints one row per case: users scored, the return codes, the project's ROC-AUC / PR-AUC,
RFM + logistic regression's (the referee's own), the difference and the last stderr line of
the step that failed. ``--grid`` runs instead 30 forecasts of a replenishment shop whose newest
training cutoff T - H is 1-28 days after the log's first event (H = 30/60/90, two seeds).
Needs ``../shared/referee/reference.py``; runs niced, one thread; about 6 s per case.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))
from referee_cases import CASES, GRID, Case  # noqa: E402

# ../shared beside the checkout (CI, the main clone) or beside a worktree's parent
REFEREE = next(
    (
        p / "shared" / "referee" / "reference.py"
        for p in (ROOT.parent, ROOT.parent.parent)
        if (p / "shared" / "referee" / "reference.py").exists()
    ),
    ROOT.parent / "shared" / "referee" / "reference.py",
)
PY = sys.executable
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run(cmd: list[str], log: Path) -> tuple[int, str, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        ["nice", "-n", "10", *cmd], capture_output=True, text=True, env=ENV, cwd=ROOT
    )
    log.write_text(f"$ {' '.join(cmd)}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc.returncode, proc.stdout, time.perf_counter() - start


def _direct(src: Path, case: Case, d: Path) -> str:
    """Train and score on the source file itself: return codes and the last stderr line."""
    t, h = case.cutoff, str(case.horizon)
    cli = [PY, "-m", "churn_core"]
    rc_t, _, _ = _run(
        [
            *cli,
            "train",
            str(src),
            "--horizon-days",
            h,
            "--as-of",
            t,
            "-q",
            "--model-dir",
            str(d / "model_direct"),
        ],
        d / "direct_train.log",
    )
    if rc_t != 0:
        return f"direct train rc {rc_t}: {_tail(d / 'direct_train.log')}"
    rc_s, _, _ = _run(
        [
            *cli,
            "score",
            str(src),
            "--model-dir",
            str(d / "model_direct"),
            "-q",
            "--as-of",
            t,
            "--out",
            str(d / "scores_direct.csv"),
        ],
        d / "direct_score.log",
    )
    return f"direct train 0, score {rc_s}: {_tail(d / 'direct_score.log')}"


def _tail(log: Path) -> str:
    err = log.read_text().split("--- stderr\n", 1)[-1].strip().splitlines()
    return err[-1][:160] if err else ""


def run_case(case: Case, work: Path) -> dict:
    """The four referee / CLI steps of one case; a row of the table."""
    d = work / case.name
    d.mkdir(parents=True, exist_ok=True)
    src, prefix, model, scores = d / "src.csv", d / "P", d / "model", d / "scores.csv"
    case.build().to_csv(src, index=False)
    ref = [PY, str(REFEREE), f"events={src}", case.cutoff, str(case.horizon)]
    events = str(prefix) + ".events.csv"
    t, h = case.cutoff, str(case.horizon)
    steps = [
        ("write", [*ref, "--write-prefix", str(prefix)]),
        (
            "train",
            [PY, "-m", "churn_core", "train", events, "--horizon-days", h, "--as-of", t]
            + ["--model-dir", str(model), "-q"],
        ),
        (
            "score",
            [PY, "-m", "churn_core", "score", events, "--model-dir", str(model)]
            + ["--as-of", t, "--out", str(scores), "-q"],
        ),
        ("judge", [*ref, "--scores", str(scores), "--no-bgnbd"]),
    ]
    row: dict = {"case": case.name, "note": case.note, "T": t, "H": case.horizon}
    for name, cmd in steps:
        rc, out, secs = _run(cmd, d / f"{name}.log")
        row[f"rc_{name}"] = rc
        row[f"s_{name}"] = round(secs)
        if rc != 0:
            row["failed"] = name
            row["stderr"] = _tail(d / f"{name}.log")
            if name == "write":  # the referee cannot read it: does the project, on the source?
                row["direct"] = _direct(src, case, d)
            break
        if name == "judge":
            lines = {j["model"]: j for j in map(json.loads, out.strip().splitlines())}
            row["users"] = lines["project"]["n"]
            row["churn_rate"] = lines["project"]["churn_rate"]
            row["missing"] = lines["project"]["missing_users"]
            p = pd.read_csv(scores, comment="#").churn_probability
            row["mean_p"] = round(float(p.mean()), 4)
            for model_name in ("project", "rfm_logreg", "rfm_hgb", "recency"):
                row[f"{model_name}_roc"] = lines[model_name]["roc_auc"]
                row[f"{model_name}_pr"] = lines[model_name]["pr_auc"]
    return row


def _table(rows: list[dict]) -> str:
    head = "| case | users | churn | mean p | rc w/t/s/j | project ROC / PR | RFM+logreg ROC / PR "
    head += "| ΔROC | note |"
    out = [head, "|" + "---|" * 9]
    for r in rows:
        rcs = "/".join(str(r.get(f"rc_{s}", "-")) for s in ("write", "train", "score", "judge"))
        if "project_roc" in r:
            proj = f"{r['project_roc']:.3f} / {r['project_pr']:.3f}"
            rfm = f"{r['rfm_logreg_roc']:.3f} / {r['rfm_logreg_pr']:.3f}"
            delta = f"{r['project_roc'] - r['rfm_logreg_roc']:+.3f}"
        else:
            proj = rfm = delta = "—"
        note = r["note"] + (f"; {r['failed']}: `{r['stderr']}`" if "failed" in r else "")
        note += f"; {r['direct']}" if "direct" in r else ""
        out.append(
            f"| {r['case']} | {r.get('users', '—')} | {r.get('churn_rate', '—')} "
            f"| {r.get('mean_p', '—')} | {rcs} "
            f"| {proj} | {rfm} | {delta} | {note} |"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated case names")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "referee_shapes"))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--grid", action="store_true", help="the short-history replenishment grid")
    a = ap.parse_args()
    cases = GRID if a.grid else CASES
    if a.list:
        for c in cases:
            print(f"{c.name:16} T={c.cutoff} H={c.horizon:3}  {c.note}")
        return
    if not REFEREE.exists():
        raise SystemExit(f"needs the referee at {REFEREE} (../shared beside the checkout)")
    wanted = set(a.only.split(",")) if a.only else None
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "rows.jsonl").write_text("")
    rows = []
    for case in cases:
        if wanted and case.name not in wanted:
            continue
        row = run_case(case, work)
        rows.append(row)
        print(json.dumps(row), flush=True)
        with open(work / "rows.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
    print(_table(rows))
    done = [r for r in rows if "project_roc" in r]
    if done:
        delta = np.array([r["project_roc"] - r["rfm_logreg_roc"] for r in done])
        print(
            f"\n{len(done)} graded: mean ΔROC {delta.mean():+.3f}, worst {delta.min():+.3f}, "
            f"{int((delta < -0.02).sum())} below RFM + logreg by more than 0.02"
        )


if __name__ == "__main__":
    main()
