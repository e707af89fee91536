"""The Socket.IO server: who may connect, which rooms a socket is in, and what the outbox pushes to them.

Connect: the Better Auth session from the cookie, or the session token in the handshake's
``auth.token`` (as the seed's client sends it: raw, or signed as the cookie is). Anything else is
refused with ``connect_error`` (``err.data.code``). A cookie-authenticated socket must come from a
trusted origin, as a cookie-authenticated write must.

Rooms are the server's alone (Socket.IO has no client-side join, and no handler here joins on
request): ``user:<id>``, and while the session's user is a member of its active organization,
``org:<id>`` plus two internal rooms that narrow it to what the socket's role may read:
``org:<id>/role:<role>`` and ``org:<id>/role:<role>/user:<id>`` (roles granted only their own rows).

Revocation and organization switches: each node re-reads the sessions of its sockets every
``recheck_interval`` seconds, and at once after an authentication or organization request it
served or a membership event it delivered. A session that is gone or expired is disconnected
(``session_revoked`` first); a changed active organization or role moves the socket's rooms.

Delivery: ``on_event`` is the outbox's ``realtime`` subscriber (global order), whose workers hand
each committed event to one process; that process emits through the client manager (in memory, or
Redis pub/sub to every node). A domain event of a tenant-scoped entity goes to each role of the
organization allowed to read the entity (the app's policy), as that role would read the row.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from tenantry.context import Principal, RequestContext
from tenantry.core.metrics import SOCKETS_CONNECTED
from tenantry.db.codecs import format_timestamp
from tenantry.db.errors import DatabaseUnavailable
from tenantry.errors import ApiError
from tenantry.events import DomainEvent
from tenantry.outage import Outage
from tenantry.realtime.errors import (
    INVALID_CURSOR,
    INVALID_ORIGIN,
    SESSION_REVOKED,
    UNAUTHORIZED,
    UNAVAILABLE,
    refusal,
)
from tenantry.realtime.service import NOTIFICATION_TOPIC, NotificationStore
from tenantry.realtime.sessions import SessionReader
from tenantry.realtime.settings import RealtimeSettings
from tenantry.schema import Action, Entity

if TYPE_CHECKING:
    import socketio

    from tenantry.auth import AuthContext
    from tenantry.core import App

log = logging.getLogger("tenantry.realtime")

MAX_TOKEN_LENGTH = 4096
# Events whose delivery may change which organization rooms a socket belongs to.
_MEMBERSHIP_ENTITIES = frozenset({"members", "invitations"})


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


def org_room(org_id: str) -> str:
    return f"org:{org_id}"


def role_room(org_id: str, role: str) -> str:
    """Sockets of ``org_id``'s members with ``role``: where changes that role may read are sent."""
    return f"org:{org_id}/role:{role}"


def owner_room(org_id: str, role: str, user_id: str) -> str:
    """One user's sockets in ``org_id`` with ``role``: for roles that may read only the rows they own."""
    return f"org:{org_id}/role:{role}/user:{user_id}"


def rooms_for(user_id: str, org_id: str | None, role: str | None) -> frozenset[str]:
    """Every room a socket of ``user_id`` belongs to, with this active organization and role."""
    rooms = {user_room(user_id)}
    if org_id and role:
        rooms |= {org_room(org_id), role_room(org_id, role), owner_room(org_id, role, user_id)}
    return frozenset(rooms)


@dataclass
class Member:
    """A connected socket: whose session it rides on and where it is."""

    sid: str
    user_id: str
    token: str
    org_id: str | None
    role: str | None
    rooms: frozenset[str]


class Refused(Exception):
    """A refused connection: ``err.message`` for people, ``err.data.code`` for programs.

    Told to python-socketio as its ``ConnectionRefusedError`` by the connect handler (this module
    does not import python-socketio, which is loaded with the first socket; see ``SocketServer.sio``).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, refusal(code, message))


class SocketServer:
    """python-socketio's ``AsyncServer`` for one app, with its connect rules, rooms and delivery."""

    def __init__(self, app: App, auth: AuthContext, settings: RealtimeSettings, store: NotificationStore) -> None:
        self.app = app
        self.settings = settings
        self.store = store
        self.auth = auth
        self.schema = app.schema
        # Pushes go through Redis (and python-socketio is loaded at start-up) only with REDIS_URL.
        self.redis = bool(app.settings.redis_url)
        self._sio: socketio.AsyncServer | None = None
        self._asgi: socketio.ASGIApp | None = None
        self.members: dict[str, Member] = {}
        self.sessions = SessionReader(app.db, app.tables, app.pipeline.sql)
        self._poked = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False
        self._broadcasts: set[asyncio.Task[None]] = set()
        self._database = Outage("database (for realtime's session re-checks)", log)

    @property
    def sio(self) -> socketio.AsyncServer:
        """python-socketio's server, built (and the library imported) at first use: with no Redis, at
        the first socket's handshake, so that a node nobody connects a socket to never loads it."""
        if self._sio is None:
            self._sio = self._build_sio()
        return self._sio

    @property
    def asgi(self) -> socketio.ASGIApp:
        """The ASGI app of ``/socket.io/`` (see ``sio``)."""
        if self._asgi is None:
            import socketio

            self._asgi = socketio.ASGIApp(self.sio, socketio_path="socket.io")
        return self._asgi

    def _build_sio(self) -> socketio.AsyncServer:
        import socketio

        manager: Any = None
        if self.app.settings.redis_url:
            from tenantry.realtime.fanout import RedisManager

            # Every node publishes what it emits on one channel and emits what the others publish
            # to its own sockets. A Redis outage loses live pushes only (logged); requests go on.
            manager = RedisManager(
                self.app.settings.redis_url,
                self._poke_here,
                channel=self.settings.channel,
                redis_options={"socket_connect_timeout": 2, "health_check_interval": 10},
            )
        sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            # Browsers may connect from the app's trusted origins only; clients without Origin
            # (servers, Node) are let through to authenticate with a token.
            cors_allowed_origins=self._origin_allowed,
            logger=False,
            engineio_logger=False,
        )
        sio.on("connect", self._connect)
        sio.on("disconnect", self._disconnect)
        return sio

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start re-checking sessions in the background (call from the running loop)."""
        self._poked = asyncio.Event()
        self._stopping = False
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="tenantry-realtime-sessions")
        if not self.redis:
            return
        manager = self.sio.manager
        listener = getattr(manager, "thread", None)
        if listener is None or listener.done():
            # python-socketio starts the Redis listener at the first socket's handshake; pushes wait
            # for it (``RedisManager.ensure_ready``), so a node without sockets yet needs it now.
            self.sio.manager_initialized = True
            manager.initialize()

    async def close_sockets(self) -> None:
        """Close every client's connection (Engine.IO's close, not Socket.IO's disconnect): the client
        sees its transport closed and reconnects by itself, where a Socket.IO disconnect would tell it
        to stay away. Pushes from the outbox go on meanwhile (to other nodes' sockets, through Redis)."""
        if self._sio is None:
            return  # no socket ever connected here
        with contextlib.suppress(Exception):
            await self._sio.eio.disconnect()

    async def stop(self) -> None:
        """Disconnect every socket and stop the background work (the manager's Redis listener too)."""
        self._stopping = True
        self._poked.set()
        task, self._sweeper = self._sweeper, None
        if task is not None:
            # It stops at once unless a re-check is under way; that one is not worth waiting for.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), 1.0)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._sio is None:
            return  # neither a socket nor a Redis listener was ever started here
        for sid in list(self.members):
            with contextlib.suppress(Exception):
                await self.sio.disconnect(sid)
        listener = getattr(self.sio.manager, "thread", None)
        if isinstance(listener, asyncio.Task) and not listener.done():
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
        with contextlib.suppress(Exception):
            await self.sio.shutdown()
        client = getattr(self.sio.manager, "redis", None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    @property
    def alive(self) -> bool:
        """Its session sweeper is running (``tenantry.core.Supervised``, asked by readiness probes)."""
        return self._sweeper is not None and not self._sweeper.done()

    def poke(self) -> None:
        """Re-check every socket's session now, on every node (after a sign-out, a revocation, a switch …)."""
        self._poked.set()
        if self.redis:
            # Published after the local re-check is asked for: a Redis outage only delays the others.
            self._broadcasts.add(task := asyncio.get_running_loop().create_task(self._broadcast_recheck()))
            task.add_done_callback(self._broadcasts.discard)

    def _poke_here(self) -> None:
        self._poked.set()

    async def _broadcast_recheck(self) -> None:
        from tenantry.realtime.fanout import RECHECK_EVENT, RECHECK_ROOM, PushesHeld

        try:
            await self.sio.emit(RECHECK_EVENT, {}, room=RECHECK_ROOM)
        except PushesHeld:
            pass  # Redis is away (logged once): the other nodes re-check at their next pass
        except Exception:
            log.warning("could not ask the other nodes to re-check their sockets", exc_info=True)

    def _origin_allowed(self, origin: str | None) -> bool:
        return origin is None or self.auth.origins.is_trusted(origin)

    # -- connect ---------------------------------------------------------------------------------

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        from socketio.exceptions import ConnectionRefusedError as SocketRefused

        try:
            await self._accept(sid, environ, auth)
        except Refused as refused:
            raise SocketRefused(*refused.args) from None
        except Exception:
            # A refusal the client can see beats a handshake that never answers.
            log.exception("accepting a socket failed")
            message = "The server could not accept the connection; try again"
            raise SocketRefused(message, refusal(UNAVAILABLE, message)) from None

    async def _accept(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        details = auth if isinstance(auth, dict) else {}
        scope = environ.get("asgi.scope")
        if not isinstance(scope, dict):
            raise Refused(UNAUTHORIZED, "Authentication failed")
        request = self._handshake_request(scope, details.get("token"))
        lookup = await self.auth.lookup(request, refresh=False)
        current = lookup.current
        if current is None:
            raise Refused(UNAUTHORIZED, "Authentication failed")
        if current.via_cookie:
            origin = request.headers.get("origin")
            if origin is not None and not self.auth.origins.is_trusted(origin):
                raise Refused(INVALID_ORIGIN, "Cookie-authenticated sockets must come from a trusted origin")
        since = details.get("since")
        if since is not None and not _is_cursor(since):
            raise Refused(INVALID_CURSOR, "auth.since must be the id of the last notification received")
        token, _ = self.auth.request_token(request)
        session = current.session
        role = session.get("role")
        org_id = str(session["active_organization_id"]) if role and session.get("active_organization_id") else None
        user_id = str(current.user.id)
        member = Member(sid, user_id, token or "", org_id, role if org_id else None, frozenset())
        rooms = rooms_for(user_id, member.org_id, member.role)
        if since is not None:
            # Notifications join once the missed ones are replayed (``_replay``): missed, then live.
            rooms = rooms - {user_room(user_id)}
        for room in rooms:
            await self.sio.enter_room(sid, room)
        member.rooms = rooms
        if sid not in self.members:
            SOCKETS_CONNECTED.inc()
        self.members[sid] = member
        if since is not None:
            self.sio.start_background_task(self._replay, sid, str(since))

    def _handshake_request(self, scope: dict[str, Any], token: Any) -> Request:
        """The handshake as a request auth can read; a handshake token counts as a bearer token."""
        # Auth reads requests: the handshake's (a websocket or polling request) as a plain GET.
        scope = {**scope, "type": "http", "method": "GET"}
        if token is None:
            return Request(scope)
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise Refused(UNAUTHORIZED, "Authentication failed")
        try:
            header = b"Bearer " + token.encode("ascii")
        except UnicodeEncodeError:
            raise Refused(UNAUTHORIZED, "Authentication failed") from None
        # The token replaces any cookie: the socket acts as the session it names, nothing else.
        headers = [(k, v) for k, v in scope.get("headers", []) if k not in (b"authorization", b"cookie")]
        return Request({**scope, "headers": [*headers, (b"authorization", header)]})

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        if self.members.pop(sid, None) is not None:
            SOCKETS_CONNECTED.dec()

    async def _replay(self, sid: str, since: str) -> None:
        """Send a reconnecting socket what it missed (after ``since``), then let live notifications in."""
        # The connect handler returns before the client is told it is connected: wait for that,
        # or the replayed events would arrive before the client's ``connect``.
        for _ in range(500):
            if self.sio.manager.is_connected(sid, "/"):
                break
            await asyncio.sleep(0.01)
        member = self.members.get(sid)
        if member is None:
            return
        cursor = await self._send_missed(member, since)
        room = user_room(member.user_id)
        await self.sio.enter_room(sid, room)
        member.rooms = member.rooms | {room}
        # Anything committed while the first batch was read or sent (it may also arrive live:
        # clients keep the last id and skip what they already have).
        await self._send_missed(member, cursor)

    async def _send_missed(self, member: Member, cursor: str) -> str:
        for notification in await self.store.since(member.user_id, cursor, self.settings.replay_limit):
            # This node's socket: no other node need hear it, so a Redis outage cannot hold it up.
            await self.sio.emit("notification", notification_payload(notification), to=member.sid, ignore_queue=True)
            cursor = notification["id"]
        return cursor

    # -- sessions, re-checked ----------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        while not self._stopping:
            # Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancellation that arrives as
            # the event is set (a request's poke just before shutdown), and the loop would go on.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.recheck_interval):
                    await self._poked.wait()
            if self._stopping:
                return
            self._poked.clear()
            try:
                await self.recheck()
            except DatabaseUnavailable as exc:
                # The database is restarting or away: sockets stay as they are until the next pass.
                self._database.failed(exc, "sockets' sessions are re-checked once it is back")
            except Exception:
                log.exception("re-checking socket sessions failed")
            else:
                self._database.recovered()

    async def recheck(self) -> None:
        """Disconnect sockets whose session is gone or expired; move rooms where the organization or role changed."""
        by_token: dict[str, list[Member]] = {}
        for member in list(self.members.values()):
            by_token.setdefault(member.token, []).append(member)
        if not by_token:
            return
        valid = await self.sessions.valid([t for t in by_token if t], dt.datetime.now(dt.UTC))
        for token, members in by_token.items():
            state = valid.get(token)
            for member in members:
                if state is None or state.user_id != member.user_id:
                    await self._revoke(member)
                elif (member.org_id, member.role) != (state.org_id, state.role):
                    await self._move(member, state.org_id, state.role)

    async def _revoke(self, member: Member) -> None:
        if self.members.pop(member.sid, None) is not None:
            SOCKETS_CONNECTED.dec()
        with contextlib.suppress(Exception):
            await self.sio.emit(
                "session_revoked",
                refusal(SESSION_REVOKED, "The session was signed out or revoked"),
                to=member.sid,
                ignore_queue=True,
            )
        await self.sio.disconnect(member.sid)

    async def _move(self, member: Member, org_id: str | None, role: str | None) -> None:
        rooms = rooms_for(member.user_id, org_id, role)
        if user_room(member.user_id) not in member.rooms:
            rooms = rooms - {user_room(member.user_id)}  # still replaying: ``_replay`` adds it
        for room in member.rooms - rooms:
            await self.sio.leave_room(member.sid, room)
        for room in rooms - member.rooms:
            await self.sio.enter_room(member.sid, room)
        member.org_id, member.role, member.rooms = org_id, role, rooms
        # Tell the client, so it can reload what it shows for the organization.
        await self.sio.emit("organization", {"org_id": org_id, "role": role}, to=member.sid, ignore_queue=True)

    # -- delivery (the outbox's subscriber) ---------------------------------------------------------

    async def on_event(self, event: DomainEvent) -> None:
        """Push one committed event: a notification to its user, a change to the roles that may read it."""
        if self._sio is None and not self.redis:
            return  # no socket ever connected to this node, and no other node to publish to: nobody hears it
        if self.redis:
            self.sio.manager.ensure_ready()  # held (raises) while a push could miss a node: nothing emitted yet
        if event.topic == NOTIFICATION_TOPIC:
            if event.data is not None:
                room = user_room(str(event.data["user_id"]))
                await self.sio.emit("notification", notification_payload(event.data), room=room)
            return
        if event.entity in _MEMBERSHIP_ENTITIES or event.entity == self._organizations_entity():
            self.poke()
        entity = self.schema.entities.get(event.entity)
        if entity is None or entity.tenant_field is None or event.org_id is None:
            return
        for role in self.schema.roles:
            await self._emit_change(event, entity, event.org_id, role)

    def _organizations_entity(self) -> str | None:
        organizations = self.schema.system_entity("organizations")
        return organizations.name if organizations is not None else None

    async def _emit_change(self, event: DomainEvent, entity: Entity, org_id: str, role: str) -> None:
        ctx = RequestContext(Principal("user", org_id=org_id, role=role))
        try:
            grant = self.app.pipeline.policy.authorize(ctx, entity, Action.READ)
        except ApiError:
            return  # this role may not read the entity: its sockets hear nothing of it
        if grant.own_only:
            owner = (event.data or {}).get(entity.owner_field or "") if entity.owner_field else None
            if owner is None:
                return
            room = owner_room(org_id, role, str(owner))
        else:
            room = role_room(org_id, role)
        payload = {
            "id": event.id,
            "topic": event.topic,
            "entity": event.entity,
            "action": event.action,
            "row_id": event.row_id,
            "org_id": org_id,
            "data": await self.app.pipeline.presented(ctx, entity, event.data),
            "old": await self.app.pipeline.presented(ctx, entity, event.old),
            "actor_id": event.actor_id,
            "created_at": format_timestamp(event.created_at),
        }
        await self.sio.emit(event.topic, payload, room=room)


def notification_payload(notification: dict[str, Any]) -> dict[str, Any]:
    """A notification as sockets receive it: the stored row plus the seed's ``userId``."""
    return {**notification, "userId": notification["user_id"]}


def _is_cursor(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
