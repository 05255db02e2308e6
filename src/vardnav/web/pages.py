"""Renders the HTML pages in `templates/` (Jinja2, autoescaped) with headers that keep them
out of caches and frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined)

# Pages with forms and personal data: never cached, never framed (clickjacking), no
# referrer (the URLs can carry OAuth parameters and patient ids). Scripts and styles only from
# this server's /web/static (htmx and the stylesheet): no inline code, no eval. No
# form-action: browsers apply it to the redirects after a form too, and sign-in ends in a
# redirect to the app that asked.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; img-src 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
}


def render(template: str, status: int = 200, headers: dict[str, str] | None = None,
           **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status, {**SECURITY_HEADERS, **(headers or {})})


def set_global(name: str, value: Any) -> None:
    """A value every template sees (e.g. whether the demo sign-in page is offered)."""
    _env.globals[name] = value
