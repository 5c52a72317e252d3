"""Keyed pseudonymisation of user ids (HMAC-SHA256) and the way back for activation.

The key is 32 random bytes kept in a local key file (hex, created with permissions 0600 on
first use). A user id ``u`` becomes ``"p-" + HMAC-SHA256(key, u)[:32 hex]``: the same id and
key always give the same pseudonym, and without the key nobody can compute or invert it.

Mapping back needs the raw ids, which the hash cannot give. Every pseudonymisation therefore
adds the pairs it made to an id table next to the *key* (``KEYFILE.ids.csv``, 0600), never next
to the exports; ``reidentify`` reads that table (or recomputes the pairs from the raw event log
with ``--events``) and writes the list again through the formula-safe export writer.
Deleting the key file and its id table makes the pseudonyms permanent.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

import pandas as pd

from churn_core.errors import ConfigError, EventDataError

logger = logging.getLogger(__name__)

PREFIX = "p-"
_KEY_BYTES = 32
_DIGEST_HEX = 32  # 128 bits: collisions are out of reach for any customer base
ID_TABLE_SUFFIX = ".ids.csv"


def load_or_create_key(path: str | os.PathLike) -> bytes:
    """The key in ``path``; a new random key is written there (mode 0600) if none exists.

    Raises :class:`ConfigError` when the file is unreadable or does not hold a key.
    """
    path = Path(path).expanduser()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(_KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise ConfigError(f"Cannot create the key file {path}: {exc.strerror}.") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(key.hex() + "\n")
        logger.warning("created a new pseudonymisation key in %s (keep it safe)", path)
        return key
    if not path.is_file():
        raise ConfigError(f"The key file {path} is not a file. Name a file for the key.")
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(
            f"{path} does not hold a pseudonymisation key ({type(exc).__name__}). Name the key "
            "file written on first use, or a new path to create one."
        ) from None
    if len(key) < 16:
        raise ConfigError(f"The key in {path} is too short ({len(key)} bytes; need 16 or more).")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("key file %s is readable by others; run: chmod 600 %s", path, path)
    return key


def pseudonym(user_id: str, key: bytes) -> str:
    """The pseudonym of one user id."""
    digest = hmac.new(key, str(user_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:_DIGEST_HEX]


class Pseudonymizer:
    """Replaces user ids by keyed hashes; remembers the pairs it made for the id table.

    Call it on a Series of ids (NaN stays NaN); ``save_pairs()`` adds the pairs to the id
    table next to the key file.
    """

    def __init__(self, key_file: str | os.PathLike):
        self.key_file = Path(key_file).expanduser()
        self._key = load_or_create_key(self.key_file)
        self.pairs: dict[str, str] = {}

    def __call__(self, ids: pd.Series) -> pd.Series:
        codes, uniques = pd.factorize(ids)
        hashed = [pseudonym(u, self._key) for u in uniques]
        self.pairs.update(zip(hashed, map(str, uniques)))
        out = pd.Series(hashed + [None], dtype="object").to_numpy()[codes]
        return pd.Series(out, index=ids.index, dtype="str")

    @property
    def id_table(self) -> Path:
        return self.key_file.with_name(self.key_file.name + ID_TABLE_SUFFIX)

    def save_pairs(self) -> Path:
        """Add this run's (pseudonym, user_id) pairs to the id table (mode 0600)."""
        table = self.id_table
        known = set(read_id_table(table)) if table.exists() else set()
        new = [(p, u) for p, u in self.pairs.items() if p not in known]
        fd = os.open(table, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            if not known:
                writer.writerow(["pseudonym", "user_id"])
            writer.writerows(new)
        return table


def read_id_table(path: str | os.PathLike) -> dict[str, str]:
    """``{pseudonym: user_id}`` from an id table."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(f"The id table {path} cannot be read ({exc}).") from None
    if list(frame.columns) != ["pseudonym", "user_id"]:
        raise ConfigError(f"{path} is not an id table (columns pseudonym,user_id expected).")
    return dict(zip(frame["pseudonym"], frame["user_id"]))


def pairs_from_ids(ids: pd.Series, key_file: str | os.PathLike) -> dict[str, str]:
    """``{pseudonym: user_id}`` recomputed from raw ids (e.g. the raw event log's user ids)."""
    p = Pseudonymizer(key_file)
    p(pd.Series(pd.unique(ids.dropna().astype(str))))
    return p.pairs


def reidentify_frame(
    frame: pd.DataFrame, pairs: dict[str, str], name: str = "the list"
) -> tuple[pd.DataFrame, int]:
    """``frame`` with the pseudonyms in its first column (``user_id``) mapped back.

    Every other column is kept as it is. Returns the new frame and the number of rows mapped.
    Raises :class:`EventDataError` when the first column is not ``user_id`` or a pseudonym is
    not in ``pairs`` (another key, or a list that was never pseudonymised).
    """
    if frame.shape[1] == 0 or str(frame.columns[0]).strip() != "user_id":
        raise EventDataError(
            [f"The first column of {name} must be user_id (the pseudonyms). Export it again."]
        )
    ids = frame.iloc[:, 0]
    present = ids.notna()
    mapped = ids.astype("object").map(lambda p: pairs.get(str(p)))
    unknown = present & mapped.isna()
    if unknown.any():
        raise EventDataError(
            [
                f"{int(unknown.sum()):,} ids in {name} are not known for this key (e.g. "
                f"'{str(ids[unknown].iloc[0])[:40]}'). Use the key the list was made with, or "
                "pass the raw event log with --events."
            ]
        )
    out = frame.copy()
    out.iloc[:, 0] = mapped.where(present, None)
    return out, int(present.sum())
