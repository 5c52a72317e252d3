"""Columns that look like personal data: e-mail addresses, phone numbers, names, addresses.

A column is flagged by its name (``email``, ``phone``, ``first_name``, ``street`` ...) or by
its content (most sampled values are e-mail addresses, formatted phone numbers or street
addresses). Person names are recognised by column name only: a value such as "Home Decor"
cannot be told from "Ann Smith" without a list of names. Flagged columns that the analyst did
not map on purpose are dropped by validation before anything is stored, and reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from churn_core.layouts import norm_name

KINDS = ("e-mail addresses", "phone numbers", "person names", "street addresses")
_SAMPLE = 500
_SHARE = 0.5  # share of sampled non-empty values that must look like one kind

_NAMES: dict[str, tuple[str, ...]] = {
    "e-mail addresses": ("email", "mail", "emailaddress", "mailaddress", "courriel"),
    "phone numbers": (
        "phone",
        "phonenumber",
        "telephone",
        "tel",
        "mobile",
        "mobilephone",
        "cellphone",
        "msisdn",
        "fax",
    ),
    "person names": (
        "name",
        "firstname",
        "lastname",
        "fullname",
        "surname",
        "givenname",
        "familyname",
        "forename",
        "middlename",
        "contactname",
        "recipientname",
        "billingname",
        "shippingname",
    ),
    "street addresses": (
        "address",
        "streetaddress",
        "street",
        "addressline",
        "addressline1",
        "addressline2",
        "address1",
        "address2",
        "billingaddress",
        "shippingaddress",
        "homeaddress",
        "postaladdress",
    ),
}
# a recognised role word in front of the name makes it personal too: customer_email, user_name
_OWNER_WORDS = ("customer", "user", "client", "buyer", "shopper", "member", "contact", "billing")
_NOT_PERSONAL = ("product", "item", "category", "brand", "store", "shop", "file", "event")

_EMAIL = re.compile(r"^[\w.+'-]+@[\w-]+(\.[\w-]+)+$")
_PHONE = re.compile(r"^(\+|00)?[\d\s().-]{7,22}$")
_PHONE_SEPARATED = re.compile(r"^(?:\+|00)|[\s().-]")
_NOT_PHONE = re.compile(  # dates and plain numbers share a phone number's characters
    r"^-?\d+(\.\d+)?$|^\d{4}[-./]\d{1,2}[-./]\d{1,2}|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$"
)
_STREET = re.compile(
    r"^\d+[a-z]?,?\s+.*\b(street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd|way|"
    r"court|ct|place|pl|square|sq|terrace|close|crescent|strasse|straße|str|rue|via|calle|"
    r"weg|laan|gatan)\b\.?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PersonalColumn:
    """A column that looks like personal data, what kind, and why we think so."""

    column: str
    kind: str
    by: str  # "name" or "content"


def find_personal_columns(raw: pd.DataFrame) -> list[PersonalColumn]:
    """Every column of ``raw`` that looks like personal data, by name first, then by content."""
    found = []
    for col in dict.fromkeys(map(str, raw.columns)):
        kind = _kind_by_name(col)
        if kind:
            found.append(PersonalColumn(col, kind, "name"))
            continue
        values = raw[col]
        if isinstance(values, pd.DataFrame):  # duplicated header: look at the first
            values = values.iloc[:, 0]
        kind = _kind_by_content(values)
        if kind:
            found.append(PersonalColumn(col, kind, "content"))
    return found


def _kind_by_name(column: str) -> str | None:
    name = norm_name(column)
    if any(name.startswith(w) for w in _NOT_PERSONAL):
        return None
    for kind, names in _NAMES.items():
        if name in names:
            return kind
        for owner in _OWNER_WORDS:
            if name.startswith(owner) and name[len(owner) :] in names:
                return kind
    if name.endswith(("emailaddress", "email")) or name.startswith("email"):
        if "hash" in name or "sha" in name or "md5" in name:
            return None  # a hashed e-mail is a pseudonym, not the address
        return "e-mail addresses"
    return None


def _kind_by_content(values: pd.Series) -> str | None:
    sample = values.head(20 * _SAMPLE).dropna().astype("str").str.strip()
    sample = sample[sample != ""].head(_SAMPLE)
    if len(sample) < 3:
        return None
    need = _SHARE * len(sample)
    if sample.str.match(_EMAIL).sum() >= need:
        return "e-mail addresses"
    phone = sample.str.match(_PHONE) & sample.str.contains(_PHONE_SEPARATED)
    phone &= sample.str.count(r"\d").between(7, 15) & ~sample.str.match(_NOT_PHONE)
    if phone.sum() >= need:
        return "phone numbers"
    if sample.str.match(_STREET).sum() >= need:
        return "street addresses"
    return None
