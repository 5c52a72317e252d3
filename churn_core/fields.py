"""The one table of mapping fields: how a raw column becomes a canonical one.

Every place that lists mapping fields reads :data:`MAPPING_FIELDS`: the CLI flags
(``churn_core.cli``), the app's mapping box (``churn_app.pages.data``), the fields of
:class:`~churn_core.config.SchemaConfig` and :class:`~churn_core.layouts.DetectedSchema`
(a test checks they match), the name synonyms used by detection (``churn_core.layouts``) and
the fix sentences of problems (``churn_core.errors``), worded for the CLI or for the app.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MappingField:
    """One mapping field: its name in SchemaConfig, the role it plays, how to set it.

    ``synonyms`` are normalised column names (no case, spaces, underscores, hyphens, dots),
    best first; ``words`` are name fragments used when no synonym matches; ``content`` says
    what detection looks for in the values when the name says nothing.
    """

    name: str  # SchemaConfig / DetectedSchema attribute, e.g. "time_col"
    role: str  # plain words, e.g. "timestamp"
    flag: str  # CLI flag, e.g. "--time-col"
    label: str  # app widget label, e.g. "Timestamp"
    help: str  # one line for --help and the widget's tooltip
    kind: str = "column"  # "column" (a raw column), "format", "year" or "pairs"
    required: bool = False
    synonyms: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    content: str = ""

    @property
    def is_column(self) -> bool:
        return self.kind == "column"

    def fix(self, action: str, audience: str = "cli") -> str:
        """The sentence that tells a CLI user (a flag) or an app user (the mapping box) what
        to do. ``action``: ``name`` (none found), ``choose`` (this one is wrong) or ``check``."""
        if audience == "app":
            return {
                "name": f"Pick the {self.role} column in the mapping box.",
                "choose": f"Pick another {self.role} column in the mapping box.",
                "check": f"Check that the {self.role} column picked in the mapping box is right.",
            }[action]
        return {
            "name": f"Name the {self.role} column with {self.flag}.",
            "choose": f"Choose another column with {self.flag}.",
            "check": f"Check that {self.flag} names the right column.",
        }[action]


MAPPING_FIELDS: tuple[MappingField, ...] = (
    MappingField(
        "user_col",
        "user id",
        "--user-col",
        "User id",
        "column holding the user / customer id",
        required=True,
        synonyms=(
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
        words=("user", "customer", "client", "visitor", "member", "buyer", "shopper"),
        content="an id that repeats: the file is grouped by it, or an order/session id "
        "determines it",
    ),
    MappingField(
        "time_col",
        "timestamp",
        "--time-col",
        "Timestamp",
        "column holding the event time (a date, date-time or epoch number)",
        required=True,
        synonyms=(
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
        words=("timestamp", "datetime", "date", "time"),
        content="values that parse as dates (text formats, M-D, epoch seconds/milliseconds)",
    ),
    MappingField(
        "event_col",
        "event type",
        "--event-col",
        "Event type",
        "column holding the event type (view, cart, purchase, ...)",
        synonyms=(
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
        content="few distinct text values that read as events (view, cart, buy, ...)",
    ),
    MappingField(
        "amount_col",
        "amount",
        "--amount-col",
        "Amount",
        "column holding the amount / revenue of the row",
        synonyms=(
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
        content="numbers with decimals (money), the only such column",
    ),
    MappingField(
        "item_col",
        "item id",
        "--item-col",
        "Item id",
        "column holding the item / product id",
        synonyms=(
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
        content="by name only",
    ),
    MappingField(
        "category_col",
        "category",
        "--category-col",
        "Category",
        "column holding the item category",
        synonyms=(
            "categorycode",
            "categoryid",
            "category",
            "categoryname",
            "productcategory",
            "cat",
            "department",
        ),
        content="by name only",
    ),
    MappingField(
        "quantity_col",
        "quantity",
        "--quantity-col",
        "Quantity",
        "column holding the quantity (amount = quantity x price)",
        synonyms=("quantity", "qty", "units", "quantityordered"),
        content="whole numbers with some negatives (returns), next to a price",
    ),
    MappingField(
        "price_col",
        "unit price",
        "--price-col",
        "Unit price",
        "column holding the unit price",
        synonyms=("price", "unitprice", "itemprice", "productprice", "priceeach"),
        content="money next to a quantity, or next to event types (the price of a viewed item)",
    ),
    MappingField(
        "invoice_col",
        "invoice / order id",
        "--invoice-col",
        "Invoice / order id",
        "column holding the invoice or order id (a 'C' prefix marks a cancellation)",
        synonyms=(
            "invoiceno",
            "invoice",
            "invoiceid",
            "invoicenumber",
            "orderid",
            "orderno",
            "transactionid",
        ),
        content="an id whose rows share one timestamp (the lines of one order)",
    ),
    MappingField(
        "time_format",
        "time format",
        "--time-format",
        "Time format",
        "strftime format such as '%d/%m/%Y %H:%M', or epoch_s / epoch_ms (detected when not given)",
        kind="format",
    ),
    MappingField(
        "year",
        "year",
        "--year",
        "Year for dates without one",
        "year for dates written without one (e.g. '6-4')",
        kind="year",
    ),
    MappingField(
        "event_map",
        "event names",
        "--event-map",
        "Event names",
        "rename raw event values, e.g. 0=view 1=purchase 3=cart",
        kind="pairs",
    ),
)

BY_NAME: dict[str, MappingField] = {f.name: f for f in MAPPING_FIELDS}
COLUMN_FIELDS: tuple[str, ...] = tuple(f.name for f in MAPPING_FIELDS if f.is_column)
FLAGS: dict[str, str] = {f.name: f.flag for f in MAPPING_FIELDS}
TIME_FORMAT_EXAMPLES = "e.g. '%d/%m/%Y %H:%M', 'epoch_s', 'epoch_ms'"


def mapping_field(name: str) -> MappingField:
    """The table row for ``name`` (e.g. ``"time_col"``)."""
    return BY_NAME[name]
