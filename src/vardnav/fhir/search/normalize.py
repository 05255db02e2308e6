"""String normalisation shared by indexing and querying: case- and accent-insensitive."""

from __future__ import annotations

import unicodedata

MAX_INDEXED = 200  # long texts are indexed by their prefix; prefix search still works


def normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold()[:MAX_INDEXED]


# Upper bound for prefix ranges: value_norm >= p AND value_norm < p + PREFIX_END.
PREFIX_END = "\U0010ffff"
