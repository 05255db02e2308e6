"""The pages' words in Swedish (the default) and English.

The Swedish text is the key: templates and page code write `t("Sök patient")`, which reads
naturally and falls back to Swedish if a translation were missing (a test checks that none
is). Placeholders use `str.format` names: `t("{n} träffar", n=3)`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from starlette.requests import Request

from vardnav.web.catalogue import CODES, ENGLISH

LANGUAGES = ("sv", "en")
LANG_COOKIE = "vardnav_lang"

# The language of the sign-in page being answered and the address its language button
# returns to. The sign-in flow (issue 3) builds its pages deep inside steps that never see
# the request, so its router sets this once per request (each request runs in its own task:
# the value never leaks into another request).
SIGNIN_PAGE: ContextVar[tuple[str, str]] = ContextVar("signin_page",
                                                      default=("sv", "/login"))


def language_of(request: Request) -> str:
    """The language chosen with the header's button (a cookie), Swedish by default."""
    chosen = request.cookies.get(LANG_COOKIE)
    return chosen if chosen in LANGUAGES else "sv"


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
