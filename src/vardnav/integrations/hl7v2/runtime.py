"""Running HL7 v2 beside the API (`vardnav serve`) or on its own (`vardnav hl7 …`): the outbox
listener for the workflow, the delivery workers and the inbound listener, all from Settings."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Engine

from vardnav.config import Settings
from vardnav.integrations.hl7v2.outbox import OutboxListener, Receiver, parse_receivers

log = logging.getLogger(__name__)


def receivers(settings: Settings) -> list[Receiver]:
    return parse_receivers(settings.hl7_receivers)


def outbox_listeners(settings: Settings) -> list[OutboxListener]:
    """The workflow's outbox listener, if any receiver is configured (main.adt_listeners)."""
    configured = receivers(settings)
    return [OutboxListener(configured)] if configured else []


def processor_for(app: Any) -> Any:
    """An inbound processor using the application's own services and ADT workflow, so HL7
    steps pass the same access layers, audit and listeners (outbox) as the API's."""
    from vardnav.integrations.hl7v2.listener import Processor
    from vardnav.integrations.hl7v2.mapping import WorkflowApplier

    settings: Settings = app.state.settings
    return Processor(app.state.engine, app.state.services, WorkflowApplier(app.state.adt),
                     base_url=settings.base_url.rstrip("/"))


@contextlib.asynccontextmanager
async def deliver(settings: Settings, engine: Engine) -> AsyncIterator[None]:
    """Delivery workers for the configured receivers while the context is open."""
    from vardnav.integrations.hl7v2.sender import RetryPolicy, delivering

    configured = receivers(settings)
    if not configured:
        yield
        return
    async with delivering(engine, configured,
                          retry=RetryPolicy(settings.hl7_retry_first_seconds,
                                            settings.hl7_retry_max_seconds),
                          ack_timeout=settings.hl7_ack_timeout_seconds,
                          poll=settings.hl7_poll_seconds,
                          max_frame=settings.hl7_max_frame_bytes):
        yield


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[None]:
    """What `vardnav serve` runs in its lifespan: delivery (hl7_deliver and receivers set) and
    the inbound listener (hl7_listen_port set)."""
    from vardnav.integrations.hl7v2.listener import bound_port, listening

    settings: Settings = app.state.settings
    async with contextlib.AsyncExitStack() as stack:
        if settings.hl7_deliver:
            await stack.enter_async_context(deliver(settings, app.state.engine))
        if settings.hl7_listen_port:
            server = await stack.enter_async_context(listening(
                processor_for(app), settings.hl7_listen_host, settings.hl7_listen_port,
                max_frame=settings.hl7_max_frame_bytes))
            log.warning("HL7 v2 listener on %s:%d", settings.hl7_listen_host,
                        bound_port(server))
        yield
