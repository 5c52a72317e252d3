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

from churn_core import roles
from churn_core.config import SchemaConfig
from churn_core.fields import COLUMN_FIELDS, MAPPING_FIELDS, mapping_field
from churn_core.roles import Guess
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

# Normalised names, best first, from the one table of mapping fields. A column is used for
# one field only.
SYNONYMS: dict[str, tuple[str, ...]] = {f.name: f.synonyms for f in MAPPING_FIELDS if f.is_column}
# Fallback when no synonym matches: a name containing the word and ending in "id" / the word.
_USER_WORDS = mapping_field("user_col").words
_TIME_WORDS = mapping_field("time_col").words

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
_FIELDS = COLUMN_FIELDS


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
    guesses: tuple[Guess, ...] = ()  # per field: column, confidence, evidence

    def guess(self, field: str) -> Guess | None:
        """How ``field`` was found (None when detection left no trace for it)."""
        return next((g for g in self.guesses if g.field == field), None)

    def lines(self) -> list[str]:
        """One line per distinct reason: what was detected and how sure it is (fields the
        mapping named are left out), then one line per field left open between candidates."""
        grouped: dict[tuple[str, str], list[str]] = {}
        out: list[str] = []
        for g in self.guesses:
            role = mapping_field(g.field).role
            if g.ambiguous:
                out.append(
                    f"Detected {role}: not chosen, candidates {', '.join(g.candidates)} "
                    f"({g.evidence})."
                )
            elif g.column is not None and g.confidence != "given":  # given: nothing to check
                grouped.setdefault((g.confidence, g.evidence), []).append(f"{role} = {g.column}")
        head = [
            f"Detected {', '.join(found)} ({confidence}: {evidence})."
            for (confidence, evidence), found in grouped.items()
        ]
        return head + out


def norm_name(name: object) -> str:
    """Column name without case, spaces, underscores, hyphens or dots."""
    return re.sub(r"[\s_\-.]+", "", str(name)).lower()


def detect_schema(raw: pd.DataFrame, schema: SchemaConfig = _DEFAULT_SCHEMA) -> DetectedSchema:
    """Map raw columns to canonical fields; explicit ``schema`` fields always win.

    Then a known layout's preset, then name synonyms, then (for layouts we do not know) the
    values: see :mod:`churn_core.roles`. Every field found carries a :class:`Guess` (column,
    confidence, evidence) in ``guesses``; a required field that several columns fit equally
    is left ``None`` with the candidates in its guess (validation reports them).

    Columns named in ``schema`` but absent from ``raw`` are kept as given (validation reports
    them). ``event_map`` is the layout's map with ``schema.event_map`` entries on top.
    ``time_format`` is inferred from the values when the layout does not fix it; it stays
    ``None`` when the values cannot tell (e.g. dates that read both day-first and month-first).
    """
    by_norm = _by_norm(raw.columns)
    layout, preset = _match_layout(raw, set(by_norm))
    found: dict[str, str | None] = {}
    guesses: dict[str, Guess] = {}
    taken = {getattr(schema, f) for f in _FIELDS if getattr(schema, f, None)}
    for fld in _FIELDS:
        explicit = getattr(schema, fld, None)
        if explicit:
            found[fld] = explicit
            guesses[fld] = Guess(fld, explicit, "given", "named in the mapping")
            continue
        if fld in preset:
            col, how = by_norm.get(preset[fld]), (f"the {layout} layout", "high")
        else:
            col, how = _by_synonym(by_norm, SYNONYMS[fld], taken), ("a known name", "high")
        if col is None and fld in ("user_col", "time_col") and layout == "custom":
            col, how = _by_word(raw.columns, taken, fld), ("the name says so", "medium")
        found[fld] = col
        if col:
            taken.add(col)
            guesses[fld] = Guess(fld, col, how[1], how[0])
    if layout == "rees46" and not schema.category_col and found["category_col"] is None:
        found["category_col"] = by_norm.get("categoryid")
    if layout == "custom" and _is_canonical(found):
        layout = "canonical"
    # a preset's format and event codes only hold for the preset's own columns
    same_time = norm_name(found["time_col"]) == preset.get("time_col")
    same_event = norm_name(found["event_col"]) == preset.get("event_col")
    base_map = preset.get("event_map", ()) if same_event else ()
    time_format = schema.time_format or (preset.get("time_format") if same_time else None)
    if layout in ("custom", "canonical"):
        content = _ByContent(raw, found, guesses, taken)
        time_format = content.run(time_format)
        base_map = content.event_map or base_map
    elif time_format is None and found["time_col"] in raw.columns:
        time_format = infer_time_format(raw[found["time_col"]])
    event_map = tuple(dict(base_map + tuple(schema.event_map)).items())
    ordered = tuple(guesses[f] for f in _FIELDS if f in guesses)
    return DetectedSchema(
        layout=layout, time_format=time_format, event_map=event_map, guesses=ordered, **found
    )


class _ByContent:
    """The value-based stage of :func:`detect_schema` for layouts we do not know."""

    def __init__(self, raw: pd.DataFrame, found: dict, guesses: dict, taken: set):
        self.raw, self.found, self.guesses, self.taken = raw, found, guesses, taken
        self.profile = roles.Profile(raw)
        self.event_map: tuple[tuple[str, str], ...] = ()

    def use(self, guess: Guess) -> None:
        self.guesses[guess.field] = guess
        if guess.column is not None:
            self.found[guess.field] = guess.column
            self.taken.add(guess.column)

    def run(self, time_format: str | None) -> str | None:
        p, found = self.profile, self.found
        by_name = found["time_col"] is not None
        if not by_name:
            timing = roles.find_time(p, self.taken)
            self.use(timing.guess)
            if timing.time_format == DAYS_SINCE_PRIOR:
                time_format = DAYS_SINCE_PRIOR
        time_col = found["time_col"]
        if time_col in self.raw.columns:
            if time_format is None:
                time_format = infer_time_format(self.raw[time_col])
            if by_name:
                self._check_named_time(time_col)
        times = None
        if time_col in p.text and time_format != DAYS_SINCE_PRIOR:
            times = roles.sample_times(p, time_col, time_format)
        if found["event_col"] is None:
            event = roles.find_event(p, self.taken, EVENT_SYNONYMS)
            if event.column and time_format == MONTH_DAY and roles.month_day_codes(p, event.column):
                self.event_map = _TMALL_EVENTS
                event = Guess(
                    "event_col",
                    event.column,
                    "medium",
                    "codes 0-3 next to M-D dates: the tmall-2013 layout "
                    "(0=view 1=purchase 2=favorite 3=cart)",
                )
            self.use(event)
        if found["invoice_col"] is None:
            self.use(roles.find_invoice(p, times, self.taken))
        if found["user_col"] is None:
            self.use(roles.find_user(p, times, self.taken, found["invoice_col"]))
        else:
            self._check_named_user(found["user_col"])
        if not any(found[f] for f in ("amount_col", "price_col", "quantity_col")):
            self._money()
        if found["item_col"] is None:
            self.use(roles.find_item(p, times, self.taken))
        for fld in ("item_col", "category_col"):
            self._add_cardinality(fld)
        return time_format

    def _money(self) -> None:
        money = roles.find_money(self.profile, self.taken)
        if money.column is None:
            if money.ambiguous:
                self.use(money)
            return
        qty = roles.find_quantity(self.profile, self.taken | {money.column})
        event = self.found["event_col"]
        views = event is not None and self._has_views(event)
        if qty.column is not None:
            self.use(qty)
            field, why = "price_col", "; a unit price, as a quantity sits next to it"
        elif views:
            field, why = "price_col", "; a price, as the event column holds views"
        else:
            field, why = "amount_col", ""
        self.use(Guess(field, money.column, money.confidence, money.evidence + why))

    def _has_views(self, event_col: str) -> bool:
        if event_col not in self.profile.text:
            return False
        values = self.profile.present(event_col).str.lower()
        mapped = values.map(lambda v: dict(self.event_map).get(v, EVENT_SYNONYMS.get(v, v)))
        return bool(mapped.isin(("view", "cart", "favorite")).any())

    def _add_cardinality(self, fld: str) -> None:
        """Item / category found by name: say how many values they hold."""
        guess, col = self.guesses.get(fld), self.found[fld]
        if guess is None or guess.confidence != "high" or col not in self.profile.text:
            return
        n = self.profile.distinct(col)
        evidence = f"{guess.evidence}; {n:,} values in the first {self.profile.n_rows:,} rows"
        self.guesses[fld] = Guess(fld, col, "high" if n > 1 else "low", evidence)

    def _check_named_time(self, col: str) -> None:
        """A timestamp picked by name whose values do not read as dates: say so."""
        guess = self.guesses.get("time_col")
        if guess is None or guess.confidence == "given" or col not in self.profile.text:
            return
        if roles.read_as_dates(self.profile.present(col)) is None:
            self.guesses["time_col"] = Guess(
                "time_col", col, "low", f"{guess.evidence}, but its values do not read as dates"
            )

    def _check_named_user(self, col: str) -> None:
        """A user id picked by name: add its cardinality; one value or all distinct is low."""
        guess = self.guesses.get("user_col")
        p = self.profile
        if guess is None or guess.confidence == "given" or col not in p.text:
            return
        n, rpv = p.distinct(col), p.rows_per_value(col)
        evidence = f"{guess.evidence}; {n:,} ids, {rpv:.1f} rows per id"
        confidence = guess.confidence
        if p.n_rows >= 50 and (n <= 1 or rpv < 1.05):
            confidence, evidence = "low", evidence + " (an id should repeat, over many users)"
        self.guesses["user_col"] = Guess("user_col", col, confidence, evidence)


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


def _by_norm(columns: pd.Index) -> dict[str, str]:
    """Normalised name -> the first column with that name."""
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(norm_name(col), str(col))
    return by_norm


def named_column(columns: pd.Index, fld: str) -> str | None:
    """The column a known name maps to ``fld`` (e.g. ``customer_id`` for ``user_col``), as
    :func:`detect_schema` picks it by name; None when no header is one of its synonyms."""
    return _by_synonym(_by_norm(columns), SYNONYMS[fld], set())


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
