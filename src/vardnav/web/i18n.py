"""The pages' words in Swedish (the default) and English.

The Swedish text is the key: templates and page code write `t("Sök patient")`, which reads
naturally and falls back to Swedish if a translation were missing (a test checks that none
is). Placeholders use `str.format` names: `t("{n} träffar", n=3)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vardnav.web.catalogue import CODES, ENGLISH

LANGUAGES = ("sv", "en")


def translate(text: str, lang: str, **values: Any) -> str:
    if text in CODES:
        chosen = CODES[text][1 if lang == "en" else 0]
    else:
        chosen = ENGLISH.get(text, text) if lang == "en" else text
    return chosen.format(**values) if values else chosen


def translator(lang: str) -> Callable[..., str]:
    def t(text: str, **values: Any) -> str:
        return translate(text, lang, **values)

    return t
