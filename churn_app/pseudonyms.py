"""The Data page's pseudonymisation switch: which key file this session hashes user ids with.

Only the key file's path is kept in ``st.session_state``; every load makes a fresh
:class:`~churn_core.privacy.Pseudonymizer`, writes the (pseudonym, id) pairs it made to the id
table next to the key (for ``reidentify``) and is then discarded, so the session never holds
raw ids.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from churn_core.errors import ConfigError
from churn_core.pii import find_personal_columns
from churn_core.privacy import Pseudonymizer, load_or_create_key

KEY_FILE = "pseudonym_key"  # the key file's path while the switch is on, else None
DEFAULT_KEY_FILE = "~/.churn/pseudonym.key"


def key_file() -> str | None:
    """The session's key file, or None when user ids are kept as they are."""
    return st.session_state.get(KEY_FILE)


def switch(path: str | None) -> None:
    """Turn pseudonymisation on with the key in ``path`` (created 0600 if new), or off.

    Raises :class:`ConfigError` (nothing changes) when the key file cannot be used.
    """
    if path is not None:
        path = path.strip() or DEFAULT_KEY_FILE
        load_or_create_key(path)  # raises before anything changes
    st.session_state[KEY_FILE] = path


def new_hasher() -> Pseudonymizer | None:
    """A fresh Pseudonymizer for one load, or None when the switch is off."""
    path = key_file()
    return Pseudonymizer(path) if path is not None else None


def keep_pairs(hasher: Pseudonymizer | None) -> None:
    """Add the load's pairs to the id table next to the key; forget them here."""
    if hasher is None or not hasher.pairs:
        return
    try:
        hasher.save_pairs()
    except OSError as exc:
        raise ConfigError(
            f"Cannot write the id table {hasher.id_table} ({exc.strerror}); without it the "
            "pseudonyms cannot be mapped back. Choose a key file in a folder you can write."
        ) from None
    finally:
        hasher.pairs.clear()


def found_by(column: str) -> str:
    """How a dropped personal-data column was recognised: by its name or by its content."""
    by_name = find_personal_columns(pd.DataFrame(columns=[column]))
    return "column name" if by_name else "content"
