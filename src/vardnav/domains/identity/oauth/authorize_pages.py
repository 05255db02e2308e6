"""The few HTML pages of the authorization endpoint: an error page and the patient picker.
Every value shown is escaped; pages are never cached nor framed (clickjacking)."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

PAGE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache", "X-Frame-Options": "DENY",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                           "form-action 'self'; frame-ancestors 'none'"}
PICKER_PATH = "/oauth/authorize/patient"


def _page(title: str, body: str, status: int) -> HTMLResponse:
    html = (f'<!doctype html><html lang="sv"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width">'
            f"<title>{escape(title)} – Vårdnav</title>"
            f"<style>body{{font-family:sans-serif;max-width:36em;margin:2em auto}}</style>"
            f"</head><body><h1>{escape(title)}</h1>{body}</body></html>")
    return HTMLResponse(html, status, headers=PAGE_HEADERS)


def error_page(message: str, status: int = 400) -> HTMLResponse:
    return _page("The app could not be authorized", f"<p>{escape(message)}</p>", status)


def patient_picker(request_id: str, app_name: str, error: str | None = None,
                   status: int = 200) -> HTMLResponse:
    problem = f'<p role="alert"><strong>{escape(error)}</strong></p>' if error else ""
    body = (f"<p>{escape(app_name)} asks for a patient's record. Which patient?</p>{problem}"
            f'<form method="post" action="{PICKER_PATH}">'
            f'<input type="hidden" name="request" value="{escape(request_id)}">'
            f'<label>Personnummer or Patient id <input name="patient" required '
            f'autocomplete="off" autofocus></label> '
            f'<button type="submit" name="action" value="choose">Open</button> '
            f'<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>'
            f"</form>")
    return _page("Choose patient", body, status)
