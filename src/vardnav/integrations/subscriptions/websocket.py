"""The websocket channel: `GET /fhir/$subscription-websocket` (backport style).

1. The client asks `Subscription/{id}/$get-ws-binding-token` (it must be allowed to read
   the Subscription) and gets a token valid for a few minutes (operations.py).
2. It opens the websocket and sends the text `bind-with-token <token>`; it may bind several
   subscriptions on one connection. The server answers with a handshake notification, then
   sends every notification not yet delivered, in order, and new ones as they come, and a
   heartbeat when idle for the subscription's heartbeat period. A bad or expired token gets
   an OperationOutcome text and the connection stays open.
3. After a disconnect the client binds again (a new token if the old one expired) and gets
   what it missed: a notification counts as delivered once it was written to the socket.
   Websocket has no acknowledgement, so one in flight when the connection broke can be
   lost; the event numbers show the gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
from typing import Any

import orjson
from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy import Connection, Engine, delete, insert, select

from vardnav.integrations.subscriptions.delivery import db
from vardnav.integrations.subscriptions.models import ws_token
from vardnav.integrations.subscriptions.store import Delivered, Store

PATH = "/fhir/$subscription-websocket"
TOKEN_SECONDS = 300


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(conn: Connection, sid: str, now: float,
                seconds: float = TOKEN_SECONDS) -> str:
    """A new binding token for the subscription (only its hash is stored)."""
    conn.execute(delete(ws_token).where(ws_token.c.expires < now))
    token = secrets.token_urlsafe(32)
    conn.execute(insert(ws_token).values(token_hash=_hash(token), subscription_id=sid,
                                         expires=now + seconds))
    return token


def redeem(conn: Connection, token: str, now: float) -> str | None:
    return conn.execute(select(ws_token.c.subscription_id).where(
        ws_token.c.token_hash == _hash(token), ws_token.c.expires > now)).scalar()


def _outcome(message: str) -> str:
    return orjson.dumps({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "security", "diagnostics": message}]}).decode()


class WebsocketChannel:
    def __init__(self, engine: Engine, store: Store, *, poll: float = 0.1,
                 batch: int = 50) -> None:
        self.engine = engine
        self.store = store
        self.poll = poll
        self.batch = batch

    async def endpoint(self, ws: WebSocket) -> None:
        await ws.accept()
        lock = asyncio.Lock()
        streams: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                text = (await ws.receive_text()).strip()
                command, _, token = text.partition(" ")
                if command != "bind-with-token" or not token.strip():
                    await ws.send_text(_outcome("Send 'bind-with-token <token>'"))
                    continue
                sid = await db(self.engine, redeem, token.strip(), time.time(), write=False)
                if sid is None:
                    await ws.send_text(_outcome("Unknown or expired binding token"))
                    continue
                if sid not in streams or streams[sid].done():
                    streams[sid] = asyncio.create_task(self._stream(ws, lock, sid))
        except WebSocketDisconnect:
            pass
        finally:
            for task in streams.values():
                task.cancel()
            for task in streams.values():
                with contextlib.suppress(BaseException):
                    await task

    async def _send(self, ws: WebSocket, lock: asyncio.Lock, body: bytes | str) -> None:
        async with lock:
            await ws.send_text(body.decode() if isinstance(body, bytes) else body)

    async def _stream(self, ws: WebSocket, lock: asyncio.Lock, sid: str) -> None:
        """Send this subscription's notifications in order for as long as it is bound."""
        control = await db(self.engine, self.store.control, sid, "handshake", write=False)
        if control is None:
            await self._send(ws, lock, _outcome(f"Subscription/{sid} is gone"))
            return
        spec, handshake = control
        if spec.channel != "websocket":
            await self._send(ws, lock, _outcome(f"Subscription/{sid} is not a websocket "
                                                "subscription"))
            return
        await self._send(ws, lock, handshake)
        await db(self.engine, self.store.activate, sid)
        cursor, idle_since = 0, time.monotonic()
        while True:
            pending = await db(self.engine, self.store.load, sid, after=cursor,
                               limit=self.batch, write=False)
            if pending is None or pending.status != "active":
                await asyncio.sleep(self.poll)
                continue
            if pending.bodies:
                done = Delivered(cursor)
                for number, body in pending.bodies:
                    await self._send(ws, lock, body)
                    cursor = done.upto = number
                    if number in pending.audit:
                        done.audit.append((number, *pending.audit[number]))
                await db(self.engine, self.store.record_delivered, {sid: done})
                idle_since = time.monotonic()
                continue
            cursor = max(cursor, pending.delivered_upto)
            heartbeat = pending.spec.heartbeat
            if heartbeat and time.monotonic() - idle_since >= heartbeat:
                beat = await db(self.engine, self.store.control, sid, "heartbeat",
                                write=False)
                if beat is not None:
                    await self._send(ws, lock, beat[1])
                    await db(self.engine, self.store.mark_sent, sid)
                idle_since = time.monotonic()
            await asyncio.sleep(self.poll)


def websocket_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    scheme, sep, rest = base.partition("://")
    ws_scheme = {"https": "wss", "http": "ws"}.get(scheme, "ws")
    root = rest[:-len("/fhir")] if rest.endswith("/fhir") else rest
    return f"{ws_scheme}{sep}{root}{PATH}"


def install_route(app: Any, channel: WebsocketChannel) -> None:
    app.add_api_websocket_route(PATH, channel.endpoint)
