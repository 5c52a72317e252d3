"""Which raw column is which: known public layouts, column-name synonyms, event names.

:func:`detect_schema` looks at column names (case, space, underscore, hyphen and dot are
ignored) and a sample of values. Fields set in :class:`~churn_core.config.SchemaConfig` always
win; the rest come from a known layout's preset, then from synonyms.

Category choice: when a log has both ``category_code`` (a readable taxonomy such as
``electronics.smartphone``) and ``category_id``, the category is ``category_code`` where it is
filled and ``category_id`` where it is empty (REES46 leaves a third of the codes empty). Every
category id maps to one code or none, so the merged value is still one label per category.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churn_core.config import SchemaConfig
from churn_core.timestamps import DAYS_SINCE_PRIOR, MONTH_DAY, infer_time_format

LAYOUTS = (
    "canonical",
    "uci-online-retail",
    "taobao-userbehavior",
    "rees46",
    "tmall-2013",
    "instacart-orders",
    "custom",
)

# Normalised names, best first. A column is used for one field only.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "user_col": (
        "userid",
        "customerid",
        "customeruniqueid",
        "clientid",
        "visitorid",
        "memberid",
        "accountid",
        "buyerid",
        "shopperid",
        "user",
        "customer",
        "client",
        "visitor",
        "uid",
    ),
    "time_col": (
        "timestamp",
        "eventtime",
        "eventtimestamp",
        "datetime",
        "time",
        "date",
        "invoicedate",
        "orderdate",
        "orderdatetime",
        "ordertime",
        "visitdatetime",
        "eventdate",
        "transactiondate",
        "transactiontime",
        "purchasedate",
        "createdat",
        "occurredat",
        "ts",
    ),
    "event_col": (
        "eventtype",
        "event",
        "action",
        "actiontype",
        "behavior",
        "behaviortype",
        "behaviour",
        "behaviourtype",
        "eventname",
        "activity",
        "type",
    ),
    "amount_col": (
        "amount",
        "revenue",
        "value",
        "total",
        "totalamount",
        "totalprice",
        "ordervalue",
        "ordertotal",
        "sales",
        "spend",
        "monetary",
        "paymentvalue",
        "gmv",
    ),
    "quantity_col": ("quantity", "qty", "units", "quantityordered"),
    "price_col": ("price", "unitprice", "itemprice", "productprice", "priceeach"),
    "item_col": (
        "itemid",
        "productid",
        "item",
        "product",
        "sku",
        "stockcode",
        "articleid",
        "productcode",
        "itemcode",
        "asin",
        "brandid",
    ),
    "category_col": (
        "categorycode",
        "categoryid",
        "category",
        "categoryname",
        "productcategory",
        "cat",
        "department",
    ),
    "invoice_col": ("invoiceno", "invoice", "invoiceid", "invoicenumber"),
}
# Fallback when no synonym matches: a name containing the word and ending in "id" / the word.
_USER_WORDS = ("user", "customer", "client", "visitor", "member", "buyer", "shopper")
_TIME_WORDS = ("timestamp", "datetime", "date", "time")

EVENT_SYNONYMS = {
    **dict.fromkeys(
        (
            "pv",
            "pageview",
            "page_view",
            "view",
            "views",
            "viewed",
            "view_item",
            "product_view",
            "detail",
            "click",  # Tmall's code 0 and the referee's export of it: one name either way
            "clicks",
        ),
        "view",
    ),
    **dict.fromkeys(
        (
            "buy",
            "buys",
            "bought",
            "order",
            "orders",
            "purchase",
            "purchases",
            "purchased",
            "transaction",
            "sale",
        ),
        "purchase",
    ),
    **dict.fromkeys(
        ("fav", "favourite", "favorite", "favourites", "favorites", "wishlist", "add_to_wishlist"),
        "favorite",
    ),
    **dict.fromkeys(
        ("cart", "add_to_cart", "addtocart", "add_to_basket", "addtobasket", "basket"), "cart"
    ),
    **dict.fromkeys(
        (
            "cancel",
            "cancelled",
            "canceled",
            "cancellation",
            "return",
            "returned",
            "refund",
            "refunded",
        ),
        "cancel",
    ),
}

_TAOBAO_EVENTS = (("pv", "view"), ("fav", "favorite"), ("cart", "cart"), ("buy", "purchase"))
_TMALL_EVENTS = (("0", "view"), ("1", "purchase"), ("2", "favorite"), ("3", "cart"))
# layout -> (normalised columns that identify it, preset fields)
_PRESETS: dict[str, tuple[frozenset[str], dict]] = {
    "uci-online-retail": (
        frozenset({"invoiceno", "stockcode", "quantity", "invoicedate", "unitprice", "customerid"}),
        {
            "user_col": "customerid",
            "time_col": "invoicedate",
            "item_col": "stockcode",
            "quantity_col": "quantity",
            "price_col": "unitprice",
            "invoice_col": "invoiceno",
        },
    ),
    "taobao-userbehavior": (
        frozenset({"userid", "itemid", "categoryid", "behaviortype", "timestamp"}),
        {
            "user_col": "userid",
            "time_col": "timestamp",
            "event_col": "behaviortype",
            "item_col": "itemid",
            "category_col": "categoryid",
            "time_format": "epoch_s",
            "event_map": _TAOBAO_EVENTS,
        },
    ),
    "rees46": (
        frozenset({"eventtime", "eventtype", "productid", "price", "userid", "usersession"}),
        {
            "user_col": "userid",
            "time_col": "eventtime",
            "event_col": "eventtype",
            "item_col": "productid",
            "price_col": "price",
            "category_col": "categorycode",
        },
    ),
    "tmall-2013": (
        frozenset({"userid", "brandid", "type", "visitdatetime"}),
        {
            "user_col": "userid",
            "time_col": "visitdatetime",
            "event_col": "type",
            "item_col": "brandid",
            "time_format": MONTH_DAY,
            "event_map": _TMALL_EVENTS,
        },
    ),
    "instacart-orders": (
        frozenset({"userid", "ordernumber", "dayssincepriororder"}),
        {"user_col": "userid", "time_col": "dayssincepriororder", "time_format": DAYS_SINCE_PRIOR},
    ),
}
_DEFAULT_SCHEMA = SchemaConfig()  # frozen, so sharing one default is safe
_FIELDS = (
    "user_col",
    "time_col",
    "event_col",
    "quantity_col",
    "price_col",
    "amount_col",
    "item_col",
    "category_col",
    "invoice_col",
)


@dataclass(frozen=True)
class DetectedSchema:
    """What auto-detection found; the app pre-fills its mapping widgets from it."""

    layout: str
    user_col: str | None = None
    time_col: str | None = None
    event_col: str | None = None
    amount_col: str | None = None
    item_col: str | None = None
    category_col: str | None = None
    quantity_col: str | None = None
    price_col: str | None = None
    invoice_col: str | None = None  # e.g. InvoiceNo (a "C" prefix marks a cancellation)
    time_format: str | None = None  # "epoch_s", "month-day", "%Y-%m-%d %H:%M:%S"; None = infer
    event_map: tuple[tuple[str, str], ...] = ()  # raw value -> canonical event name


def norm_name(name: object) -> str:
    """Column name without case, spaces, underscores, hyphens or dots."""
    return re.sub(r"[\s_\-.]+", "", str(name)).lower()


def detect_schema(raw: pd.DataFrame, schema: SchemaConfig = _DEFAULT_SCHEMA) -> DetectedSchema:
    """Map raw columns to canonical fields; explicit ``schema`` fields always win.

    Columns named in ``schema`` but absent from ``raw`` are kept as given (validation reports
    them). ``event_map`` is the layout's map with ``schema.event_map`` entries on top.
    ``time_format`` is inferred from the values when the layout does not fix it; it stays
    ``None`` when the values cannot tell (e.g. dates that read both day-first and month-first).
    """
    by_norm: dict[str, str] = {}
    for col in raw.columns:
        by_norm.setdefault(norm_name(col), str(col))
    layout, preset = _match_layout(raw, set(by_norm))
    found: dict[str, str | None] = {}
    taken = {getattr(schema, f) for f in _FIELDS if getattr(schema, f, None)}
    for fld in _FIELDS:
        explicit = getattr(schema, fld, None)
        if explicit:
            found[fld] = explicit
            continue
        if fld in preset:
            col = by_norm.get(preset[fld])
        else:
            col = _by_synonym(by_norm, SYNONYMS[fld], taken)
        if col is None and fld in ("user_col", "time_col") and layout == "custom":
            col = _by_word(raw.columns, taken, fld)
        found[fld] = col
        if col:
            taken.add(col)
    if layout == "rees46" and not schema.category_col and found["category_col"] is None:
        found["category_col"] = by_norm.get("categoryid")
    if layout == "custom" and _is_canonical(found):
        layout = "canonical"
    # a preset's format and event codes only hold for the preset's own columns
    same_time = norm_name(found["time_col"]) == preset.get("time_col")
    same_event = norm_name(found["event_col"]) == preset.get("event_col")
    base_map = preset.get("event_map", ()) if same_event else ()
    event_map = tuple(dict(base_map + tuple(schema.event_map)).items())
    time_format = schema.time_format or (preset.get("time_format") if same_time else None)
    if time_format is None and found["time_col"] in raw.columns:
        time_format = infer_time_format(raw[found["time_col"]])
    return DetectedSchema(layout=layout, time_format=time_format, event_map=event_map, **found)


def _is_canonical(found: dict[str, str | None]) -> bool:
    return norm_name(found["user_col"]) == "userid" and norm_name(found["time_col"]) == "timestamp"


def category_fallback(raw: pd.DataFrame, category_col: str | None) -> str | None:
    """``category_id`` to fill empty ``category_code`` cells, when both exist."""
    if category_col is None or norm_name(category_col) != "categorycode":
        return None
    return next((str(c) for c in raw.columns if norm_name(c) == "categoryid"), None)


def _match_layout(raw: pd.DataFrame, names: set[str]) -> tuple[str, dict]:
    for layout, (needed, preset) in _PRESETS.items():
        if needed <= names:
            return layout, preset
    if _is_headerless_taobao(raw):
        cols = [str(c) for c in raw.columns]
        return "taobao-userbehavior", {
            **_PRESETS["taobao-userbehavior"][1],
            "user_col": norm_name(cols[0]),
            "item_col": norm_name(cols[1]),
            "category_col": norm_name(cols[2]),
            "event_col": norm_name(cols[3]),
            "time_col": norm_name(cols[4]),
        }
    return "custom", {}


def _is_headerless_taobao(raw: pd.DataFrame) -> bool:
    """Tianchi's UserBehavior.csv ships without a header: five columns, 4th is pv/fav/cart/buy."""
    if raw.shape[1] != 5 or not str(raw.columns[0]).startswith("column_"):
        return False
    values = set(raw.iloc[:1000, 3].dropna().astype(str).str.strip().unique())
    return bool(values) and values <= {"pv", "fav", "cart", "buy"}


def _by_synonym(by_norm: dict[str, str], synonyms: tuple[str, ...], taken: set) -> str | None:
    return next((by_norm[s] for s in synonyms if s in by_norm and by_norm[s] not in taken), None)


def _by_word(columns: pd.Index, taken: set, fld: str) -> str | None:
    for col in map(str, columns):
        n = norm_name(col)
        if col in taken:
            continue
        if fld == "user_col" and n.endswith("id") and any(w in n for w in _USER_WORDS):
            return col
        if fld == "time_col" and any(w in n for w in _TIME_WORDS):
            return col
    return None


def normalise_events(values: pd.Series, event_map: tuple[tuple[str, str], ...]) -> pd.Series:
    """Raw event values -> canonical names: ``event_map`` first, then lower-cased synonyms.

    Works on the distinct values only, so it costs the same for 1k or 10M rows. Names
    that are not synonyms are kept, lower-cased with spaces and hyphens as underscores.
    """
    codes, uniques = pd.factorize(values.astype("str").str.strip())
    mapping = {str(k).strip(): v for k, v in event_map}
    names = np.array(
        [_canonical_event(mapping.get(u, u)) for u in uniques] + [np.nan], dtype=object
    )
    return pd.Series(names[codes], index=values.index, dtype="str")  # code -1 (missing) -> NaN


def _canonical_event(value: str) -> str:
    key = re.sub(r"[\s\-]+", "_", str(value).strip().lower())
    return EVENT_SYNONYMS.get(key, key)
