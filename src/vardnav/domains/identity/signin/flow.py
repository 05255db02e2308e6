"""The steps after someone has proved who they are (password or external IdP): find their
current assignments or records, let them choose when there is more than one, and store the
completed sign-in in the session."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from vardnav.config import Settings
from vardnav.domains.identity.organisation.assignments import StaffAssignment
from vardnav.domains.identity.signin.csrf import ensure_token, new_token
from vardnav.domains.identity.signin.directory import Directory
from vardnav.domains.identity.signin.records import RecordChoice
from vardnav.domains.identity.signin.redirects import safe_next
from vardnav.domains.identity.signin.session import (
    LOGIN_PATH,
    SignIn,
    fresh,
    sign_in_data,
    sign_in_from,
    write_session,
)
from vardnav.web.i18n import SIGNIN_PAGE, translate, translator
from vardnav.web.pages import render

CHOOSE_PATH = LOGIN_PATH + "/choose"
# Time to pick an assignment or record after authenticating.
CHOICE_SECONDS = 15 * 60
NO_ASSIGNMENT = ("Du har inget aktuellt uppdrag i Vårdnav och kan därför inte logga in. "
                 "Kontakta din enhets behörighetsadministratör.")
NO_RECORD = ("Det finns ingen journal för dig i Vårdnav, och du är inte vårdnadshavare för "
             "något barn under {age} år här. Du kan därför inte logga in.")


class Flow:
    def __init__(self, settings: Settings, directory: Directory,
                 idp_label: str | None) -> None:
        self.settings = settings
        self.directory = directory
        self.idp_label = idp_label

    # -- responses -------------------------------------------------------------------------

    def page(self, session: dict[str, Any], template: str, *, title: str, status: int = 200,
             headers: dict[str, str] | None = None, **context: Any) -> Response:
        """A page with the header (who, where, in which role) and the session cookie."""
        csrf = ensure_token(session)
        user = sign_in_from(session.get("user"))
        who = where = None
        if user is not None and fresh(user.auth_time):
            who = {"name": user.display_name, "subject": user.subject, "method": user.method}
            where = session.get("where") if user.complete else None
        context.setdefault("next", LOGIN_PATH)
        # Swedish by default, English after the header's button (the pages' cookie); the
        # texts are the Swedish keys of web/catalogue.py.
        lang, back = SIGNIN_PAGE.get()
        if back == LOGIN_PATH and context["next"] != LOGIN_PATH:
            back = f"{LOGIN_PATH}?next={quote(context['next'], safe='')}"
        t = translator(lang)
        response = render(template, status, headers, title=t(title), csrf=csrf, who=who,
                          where=where, idp_label=self.idp_label, lang=lang, t=t,
                          back=back, **context)
        write_session(response, self.settings, session)
        return response

    def message(self, session: dict[str, Any], status: int, text: str, *,
                values: dict[str, Any] | None = None, **extra: Any) -> Response:
        """A message page; `text` is a catalogue key, `values` fill its placeholders."""
        shown = translate(text, SIGNIN_PAGE.get()[0], **(values or {}))
        return self.page(session, "message.html", title="Inloggning", status=status,
                         message=shown, **extra)

    def redirect(self, session: dict[str, Any], url: str) -> Response:
        response = RedirectResponse(url, 303, {"Cache-Control": "no-store"})
        write_session(response, self.settings, session)
        return response

    # -- steps -----------------------------------------------------------------------------

    async def authenticated(self, session: dict[str, Any], who: SignIn,
                            next_url: str) -> Response:
        """`who` has proved their identity: start a new session and find their options."""
        session.clear()  # nothing from before authentication carries over (fixation)
        new_token(session)
        session["next"] = safe_next(next_url)
        if who.kind == "staff":
            found = await self.assignments(who.subject)
            if not found:
                return self.message(session, 403, NO_ASSIGNMENT)
            who = replace(who, display_name=found[0].name or who.display_name)
            session["user"] = sign_in_data(who)
            if len(found) == 1:
                return self.complete_staff(session, who, found[0])
        else:
            records = await run_in_threadpool(self.directory.records, who.subject)
            if not records.choices:
                return self.message(session, 403, NO_RECORD, values={
                    "age": self.settings.guardian_access_max_age})
            who = replace(who, display_name=records.display_name)
            session["user"] = sign_in_data(who)
            if len(records.choices) == 1:
                return self.complete_resident(session, who, records.choices[0])
        return self.redirect(session, CHOOSE_PATH)

    async def assignments(self, hsa_id: str) -> list[StaffAssignment]:
        found = await run_in_threadpool(self.directory.assignments, hsa_id)
        # A unit or provider without an HSA-id cannot be named in a token: not offered.
        return [a for a in found if a.unit_hsa and a.provider_hsa]

    def choosing(self, session: dict[str, Any]) -> SignIn | None:
        """The authenticated person still to choose, if the session has one in time."""
        who = sign_in_from(session.get("user"))
        if who is None or who.complete or time.time() - who.auth_time > CHOICE_SECONDS:
            return None
        return who

    async def show_choices(self, session: dict[str, Any], who: SignIn) -> Response:
        if who.kind == "staff":
            found = await self.assignments(who.subject)
            if not found:
                return self.message(session, 403, NO_ASSIGNMENT)
            return self.page(session, "choose_assignment.html", title="Välj uppdrag",
                             assignments=found)
        records = await run_in_threadpool(self.directory.records, who.subject)
        return self.page(session, "choose_record.html", title="Välj journal",
                         records=records.choices)

    async def choose(self, session: dict[str, Any], who: SignIn, choice: str) -> Response:
        """Complete the sign-in with the option chosen, re-checked against current data."""
        if who.kind == "staff":
            found = await self.assignments(who.subject)
            picked = next((a for a in found if a.assignment_id == choice), None)
            if picked is not None:
                return self.complete_staff(session, who, picked)
        else:
            records = await run_in_threadpool(self.directory.records, who.subject)
            chosen = next((c for c in records.choices if c.fhir_user == choice), None)
            if chosen is not None:
                return self.complete_resident(session, who, chosen)
        return self.message(session, 400, "Välj ett av alternativen i listan.",
                            next=session.get("next", LOGIN_PATH))

    def complete_staff(self, session: dict[str, Any], who: SignIn,
                       a: StaffAssignment) -> Response:
        done = replace(who, unit=a.unit_hsa, provider=a.provider_hsa, role=a.profession,
                       assignment=a.assignment_id, fhir_user=f"Practitioner/{a.practitioner_id}")
        where = {"unit": a.unit_name, "provider": a.provider_name,
                 "role": a.profession_display}
        return self._complete(session, done, where)

    def complete_resident(self, session: dict[str, Any], who: SignIn,
                          c: RecordChoice) -> Response:
        done = replace(who, patient=c.patient, fhir_user=c.fhir_user)
        # `record` is the Swedish label (sessions signed in before may carry only it);
        # `own` and `name` let the pages say it in the page's language.
        where = {"record": f"egen ({c.name})" if c.own else f"ditt barn {c.name}",
                 "own": c.own, "name": c.name}
        return self._complete(session, done, where)

    def _complete(self, session: dict[str, Any], done: SignIn,
                  where: dict[str, str]) -> Response:
        session["user"] = sign_in_data(done)
        session["where"] = where
        return self.redirect(session, safe_next(session.pop("next", None)))
