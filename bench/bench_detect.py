"""Column detection on every log in ../shared/data, with its names and with neutral names.

For each layout: detect the mapping with the real column names, then on a copy whose columns
are renamed col_a, col_b, ... (names say nothing, so only the values can tell), and compare
user, timestamp, event and amount sources; then load both and compare the events themselves
(user, timestamp, event type, amount). Also times detection alone (names vs values).

Run: ``python bench/bench_detect.py [DATA_DIR]`` (default ../shared/data or
$CHURN_SHARED_DATA).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from churn_core.errors import EventDataError  # noqa: E402
from churn_core.ingest import detect_schema, validate_events  # noqa: E402
from churn_core.loading import read_events  # noqa: E402

LOGS = {
    "uci-online-retail": "uci-online-retail/online_retail.csv.gz",
    "taobao-userbehavior": "taobao-userbehavior/taobao_userbehavior_head.csv.gz",
    "rees46": "rees46-multicategory-head/rees46_2019-Oct_head.csv.gz",
    "tmall-2013": "tmall-brand-rec-2014/tmall_brand_rec_2014.csv.gz",
    "instacart-orders": "instacart-orders-head/instacart_orders_head.csv.gz",
    "kaggle customer table": "ecommerce-churn-kaggle/e_commerce_churn.csv.gz",
}
ROLES = ("user_col", "time_col", "event_col", "amount_col", "price_col", "quantity_col")
COLUMNS = ("user_id", "timestamp", "event_type", "amount")


def _neutral(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    names = {str(c): f"col_{chr(97 + i)}" for i, c in enumerate(raw.columns)}
    out = raw.copy()
    out.columns = list(names.values())
    return out, names


def _load(raw: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return validate_events(raw)
        except EventDataError as err:
            return err


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    default = os.environ.get("CHURN_SHARED_DATA", str(REPO.parent / "shared" / "data"))
    data = Path(sys.argv[1] if len(sys.argv) > 1 else default)
    rows = []
    for name, path in LOGS.items():
        raw = read_events(data / path)
        neutral, names = _neutral(raw)
        named, t_named = _timed(lambda raw=raw: detect_schema(raw))
        blind, t_blind = _timed(lambda neutral=neutral: detect_schema(neutral))
        same_roles = [
            role
            for role in ROLES
            if getattr(blind, role) == (names[c] if (c := getattr(named, role)) else None)
        ]
        a, b = _load(raw), _load(neutral)
        if isinstance(a, EventDataError) or isinstance(b, EventDataError):
            events = "both refused" if type(a) is type(b) else "one refused"
        else:
            same = [c for c in COLUMNS if a.frame[c].equals(b.frame[c])]
            events = "identical" if len(same) == len(COLUMNS) else f"same {', '.join(same)}"
        rows.append(
            {
                "log": name,
                "rows": len(raw),
                "roles found (of 6)": len(same_roles),
                "user conf.": blind.guess("user_col").confidence if blind.user_col else "-",
                "time conf.": blind.guess("time_col").confidence if blind.time_col else "-",
                "events": events,
                "detect s (names)": round(t_named, 2),
                "detect s (values)": round(t_blind, 2),
                "ratio": round(t_blind / max(t_named, 1e-3), 1),
            }
        )
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
