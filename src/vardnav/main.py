"""Application factory: create_app(settings) wires the engine, hooks and routers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from vardnav import __version__
from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.errors import BadRequest, MethodNotAllowed, NotFound, Unauthorized, VardnavError
from vardnav.fhir.api import build_router, error_response
from vardnav.fhir.hooks import (
    AccessPolicy,
    AllowAllPolicy,
    AuditSink,
    RequestContext,
)
from vardnav.fhir.search.custom import registry_for
from vardnav.fhir.search.registry import SearchRegistry, default_registry
from vardnav.fhir.storage.repository import EngineServices
from vardnav.fhir.validation import ResourceValidator


def access_layers(settings: Settings, registry: SearchRegistry, engine: Any, *,
                  pdl: bool = True,
                  inner: AccessPolicy | None = None) -> dict[str, Any]:
    """The access policy chain, custodian and write listeners every request passes:
    SMART scopes, then the municipality's options, then the patient data law (PDL)."""
    from vardnav.domains.access.block_notices import BlockNotices
    from vardnav.domains.access.blocked_patients import BlockedPatients
    from vardnav.domains.access.custody import PdlCustodian
    from vardnav.domains.access.derivations import PdlDerivations
    from vardnav.domains.access.own_record import OwnRecords
    from vardnav.domains.access.pdl_policy import PdlPolicy
    from vardnav.domains.access.protected_identity import searchable
    from vardnav.domains.identity.access.scope_policy import ScopePolicy
    from vardnav.domains.identity.organisation.directory import OrganizationDirectory
    from vardnav.domains.identity.organisation.options_policy import OptionsPolicy

    law: AccessPolicy = PdlPolicy(
        OwnRecords(engine), inner or AllowAllPolicy(),
        stored_checks=engine.dialect.name == "postgresql") if pdl else (inner or AllowAllPolicy())
    policy = ScopePolicy(registry, inner=OptionsPolicy(OrganizationDirectory(engine), law))
    if not pdl:
        return {"policy": policy}
    window = settings.care_relationship_days * 86400
    blocked = BlockedPatients()  # watched while the server runs (watching_blocks)
    return {"policy": policy, "custodian": PdlCustodian(),
            "listeners": (PdlDerivations(window, blocked),),
            "notices": (BlockNotices(blocked),), "searchable": searchable}


def build_services(settings: Settings, *, policy: AccessPolicy | None = None,
                   audit: AuditSink | None = None, engine: Any = None) -> EngineServices:
    """Engine services; with an `engine`, the server's own SearchParameters are included.
    `policy` is the innermost rule, narrowed by the access layers (see access_layers)."""
    from vardnav.domains.access.append_only import AppendOnlyAuditPolicy
    from vardnav.domains.access.audit_log import DatabaseAuditSink
    from vardnav.domains.identity.swedish_identifiers import check_swedish_identifiers

    registry = registry_for(engine) if engine is not None else default_registry()
    db = engine if engine is not None else make_engine(settings.database_url)
    services = EngineServices(
        registry=registry,
        validator=ResourceValidator(extra_checks=[check_swedish_identifiers]),
        audit=audit or DatabaseAuditSink(synchronous_reads=settings.audit_synchronous_reads),
        default_page_size=settings.default_page_size,
        max_page_size=settings.max_page_size,
        **access_layers(settings, registry, db, inner=policy),
    )
    # Outermost: whatever the layers allow, the access log is append-only over the API.
    services.policy = AppendOnlyAuditPolicy(services.policy)
    # Writes outside the API (CLI, demo) notify subscribers too.
    from vardnav.integrations.subscriptions.runtime import install as install_subscriptions

    install_subscriptions(services, settings.base_url)
    return services


def adt_listeners(settings: Settings, engine: Any) -> list[Any]:
    """Everything told about each ADT step, inside the step's transaction (AdtListener): the
    single place where they are assembled (the HL7 v2 outbox adds itself here)."""
    from vardnav.domains.careplan.adt_hooks import CarePlanAdtListener
    from vardnav.domains.discharge.adt_hooks import DischargeAdtListener
    from vardnav.integrations.hl7v2.runtime import outbox_listeners

    # HL7 v2: one outbox row per configured receiver (VARDNAV_HL7_RECEIVERS), same transaction.
    # Discharge coordination: A03/A13/A11 update the stay's discharge case, if it has one.
    # Care plan (issue 7): A01 starts the stay's plan, A02 hands it over, A03 closes it.
    return [*outbox_listeners(settings), DischargeAdtListener(), CarePlanAdtListener()]


def create_app(settings: Settings | None = None, *, services: EngineServices | None = None,
               engine: Any = None) -> FastAPI:
    settings = settings or Settings()
    engine = engine or make_engine(settings.database_url, echo=settings.sql_echo)
    services = services or build_services(settings, engine=engine)
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Database work runs in threads; a few per process keep the GIL hand-offs between
        # them (and so the latency tail) short, while more processes add throughput.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.db_threads
        # The official definitions and compiled search parameters are millions of long-lived
        # objects; freezing them keeps full garbage collections (request pauses) short.
        gc.collect()
        gc.freeze()
        # The access log's chain; HL7 v2 outbox delivery and, with VARDNAV_HL7_LISTEN_PORT,
        # the MLLP listener.
        # (Closed in reverse: the background writer empties its queue before the last seal.)
        async with (watching_blocks(services.notices, engine),
                    sealing(engine, settings.audit_seal_seconds),
                    reads_in_background(services.audit, engine,
                                        settings.audit_background_interval,
                                        settings.audit_background_reads),
                    hl7_running(_app), subscriptions_running(_app)):
            yield

    app = FastAPI(title="Vårdnav FHIR R4 API", version=__version__, lifespan=lifespan,
                  description="FHIR R4 (4.0.1) server of the Vårdnav shared health record.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.services = services

    from vardnav.domains.access.audit_router import build_audit_router
    from vardnav.domains.access.audit_sealer import reads_in_background, sealing
    from vardnav.domains.access.blocked_patients import watching_blocks
    from vardnav.domains.access.log_extract import log_extract_operation
    from vardnav.domains.access.log_review import log_review_operation
    from vardnav.domains.access.operations import pdl_operations
    from vardnav.domains.identity.access.bearer import BearerAuthenticator, challenge
    from vardnav.domains.identity.access.keys import KeyStore
    from vardnav.domains.identity.oauth.revocation import RevocationList
    from vardnav.domains.identity.oauth.router import build_identity_router
    from vardnav.domains.identity.organisation.set_options import SET_OPTIONS
    from vardnav.domains.identity.signin.router import build_signin_router
    from vardnav.fhir.operations.registry import register_operation
    from vardnav.integrations.hl7v2.runtime import running as hl7_running
    from vardnav.integrations.subscriptions.runtime import register as register_subscriptions
    from vardnav.integrations.subscriptions.runtime import running as subscriptions_running

    register_operation(SET_OPTIONS)
    register_operation(log_extract_operation(shows_users=settings.log_extract_shows_users))
    register_operation(log_review_operation(
        daily_threshold=settings.audit_review_daily_patients))
    for operation in pdl_operations(settings.emergency_access_hours):
        register_operation(operation)
    # ADT (issue 5): one workflow per app, with the listeners of adt_listeners; bed statuses
    # change only through its steps and $set-bed-status (BedStatusGuard).
    from vardnav.domains.adt.bed_status import BedStatusGuard
    from vardnav.domains.adt.operations import adt_operations
    from vardnav.domains.adt.service import AdtWorkflow

    app.state.adt = AdtWorkflow(adt_listeners(settings, engine))
    for operation in adt_operations(app.state.adt):
        register_operation(operation)
    # Coordinated discharge (issue 6): one workflow per app; its clock is app.state.discharge.
    from vardnav.domains.discharge.operations import discharge_operations
    from vardnav.domains.discharge.payment import PaymentRules
    from vardnav.domains.discharge.service import DischargeWorkflow

    app.state.discharge = DischargeWorkflow(rules=PaymentRules.from_settings(
        settings.discharge_payment_rule, settings.discharge_payment_rules,
        settings.discharge_daily_amounts))
    for operation in discharge_operations(app.state.discharge):
        register_operation(operation)
    from vardnav.domains.discharge.topics import TOPICS as DISCHARGE_TOPICS
    from vardnav.integrations.subscriptions.topics import register_topic

    for topic in DISCHARGE_TOPICS:  # "notices for our residents" and the like
        register_topic(**topic)
    if not any(isinstance(x, BedStatusGuard) for x in services.listeners):
        services.listeners = (*services.listeners, BedStatusGuard())
    # Care plan, risk assessments, attention signal (issue 7); its clock is app.state.careplan.
    from vardnav.domains.careplan.guard import CarePlanGuard
    from vardnav.domains.careplan.operations import careplan_operations
    from vardnav.domains.careplan.service import CarePlanService

    app.state.careplan = CarePlanService()
    for operation in careplan_operations(app.state.careplan):
        register_operation(operation)
    if not any(isinstance(x, CarePlanGuard) for x in services.listeners):
        services.listeners = (*services.listeners, CarePlanGuard())
    # FHIR Subscriptions: matching listener (last), operations, websocket route; delivery
    # runs in the lifespan (subscriptions_running).
    register_subscriptions(app)
    app.state.keys = KeyStore(settings.key_dir)
    # One revocation list for the API and the revoke endpoint: a revocation applies at once.
    app.state.revocations = RevocationList(engine)
    authenticator = BearerAuthenticator(app.state.keys, issuer=settings.issuer,
                                        audience=settings.base_url,
                                        is_revoked=app.state.revocations.is_revoked)
    app.state.authenticator = authenticator
    base = settings.base_url.rstrip("/")

    def context(request: Request, public: bool) -> RequestContext:
        if public:
            return RequestContext(principal=None, base_url=base)
        header = request.headers.get("authorization")
        try:
            principal = authenticator.principal(header)
        except Unauthorized as exc:
            exc.headers["WWW-Authenticate"] = challenge(exc, token_sent=bool(header))
            raise
        address = {"client_address": request.client.host} if request.client else {}
        return RequestContext(principal=principal, base_url=base, attributes=address)

    app.include_router(build_identity_router(app.state.keys, engine, settings,
                                             revocations=app.state.revocations))
    app.include_router(build_signin_router(engine, services, settings))
    # Before the generic FHIR routes: CSV log extracts, and no writes to AuditEvent.
    app.include_router(build_audit_router(engine, services, settings, context))
    from vardnav.domains.discharge.router import build_discharge_router

    app.include_router(build_discharge_router(engine, services, lambda: app.state.discharge,
                                              context))
    # Web pages (issue 8): server-rendered, through the same engine and access layers.
    from vardnav.web.app import install_web, is_web, web_error

    install_web(app)
    app.include_router(build_router(engine, services, max_body_bytes=settings.max_body_bytes,
                                    context_factory=context), prefix="/fhir")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        if is_web(_request):
            return web_error(_request, exc.status_code)
        if exc.status_code == 404:
            return error_response(NotFound("Nothing here; the FHIR API is under /fhir"))
        if exc.status_code == 405:
            return error_response(MethodNotAllowed(str(exc.detail)))
        err = VardnavError(str(exc.detail))
        err.status = exc.status_code
        return error_response(err)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> Response:
        return error_response(BadRequest(f"Malformed request: {exc.errors()[:3]}"))

    @app.get("/", include_in_schema=False)
    async def root() -> dict[str, str]:
        return {"name": "Vårdnav", "fhir": "/fhir", "metadata": "/fhir/metadata"}

    return app
