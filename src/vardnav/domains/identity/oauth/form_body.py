"""Reading `application/x-www-form-urlencoded` bodies (OAuth endpoints and the picker form)
without extra dependencies; bodies are small, so anything large is refused."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64_000


async def read_form(request: Request) -> list[tuple[str, str]] | None:
    """The form's fields in order, or None if the body is not a form or is too large."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if ctype != FORM_TYPE or len(raw) > MAX_FORM_BYTES:
        return None
    return parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
