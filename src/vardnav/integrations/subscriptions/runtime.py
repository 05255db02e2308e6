"""Wiring subscriptions into the application (main.py) and the CLI: the write listener on
the engine services, the operations, the websocket route and the delivery worker."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Engine

from vardnav.config import Settings
from vardnav.fhir.storage.repository import EngineServices
from vardnav.integrations.subscriptions.matching import SubscriptionListener
from vardnav.integrations.subscriptions.owners import PrincipalCodec
from vardnav.integrations.subscriptions.store import RetryPolicy, Store


def install(services: EngineServices, base_url: str = "") -> SubscriptionListener:
    """Add the matching listener to the services (once), after every other listener so a
    change's derived access state (e.g. a new care relationship) is in place first."""
    for listener in services.listeners:
        if isinstance(listener, SubscriptionListener):
            return listener
    listener = SubscriptionListener(services, PrincipalCodec(), base_url=base_url)
    services.listeners = (*services.listeners, listener)
    return listener


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(settings.subscriptions_retry_first_seconds,
                       settings.subscriptions_retry_max_seconds,
                       settings.subscriptions_give_up_seconds)


def store_for(services: EngineServices, settings: Settings, *,
              clock: Callable[[], float] = time.time) -> Store:
    from vardnav.domains.identity.access.principal import SERVER

    return Store(services, PrincipalCodec(), base_url=settings.base_url,
                 server_principal=SERVER, retry=retry_policy(settings), clock=clock)


def register(app: Any) -> None:
    """Operations and the websocket route on the application (create_app)."""
    from vardnav.fhir.operations.registry import register_operation
    from vardnav.integrations.subscriptions.operations import subscription_operations
    from vardnav.integrations.subscriptions.websocket import WebsocketChannel, install_route

    settings: Settings = app.state.settings
    install(app.state.services, settings.base_url)
    for operation in subscription_operations():
        register_operation(operation)
    store = store_for(app.state.services, settings)
    install_route(app, WebsocketChannel(app.state.engine, store,
                                        poll=settings.subscriptions_poll_seconds))


@contextlib.asynccontextmanager
async def deliver(settings: Settings, engine: Engine,
                  services: EngineServices) -> AsyncIterator[None]:
    """The rest-hook delivery worker while the context is open."""
    from vardnav.integrations.subscriptions.delivery import delivering

    async with delivering(engine, store_for(services, settings),
                          poll=settings.subscriptions_poll_seconds):
        yield


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[None]:
    """What `vardnav serve` runs in its lifespan (VARDNAV_SUBSCRIPTIONS_DELIVER)."""
    settings: Settings = app.state.settings
    if not settings.subscriptions_deliver:
        yield
        return
    async with deliver(settings, app.state.engine, app.state.services):
        yield
