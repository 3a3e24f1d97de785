"""The Redis backplane: every worker on every host acts as one (``backplane="redis://..."``).

What lives in Redis (all keys under ``prefix``, default ``quartdash``; every value
written or published is encoded by ``wire.py``):

* presence: one hash per worker, ``conns:<worker>``, socket id -> ``ConnectionInfo``
  JSON, with a TTL the worker refreshes every third of it by rewriting the whole hash.
  A worker killed with SIGKILL stops refreshing, and its sockets leave every listing
  when the TTL runs out. ``workers`` is the set of worker names, cleaned lazily.
* the per-session limit across workers: ``session:<id>``, a sorted set of socket ids
  scored by when their presence runs out; admitting a socket counts and adds in one
  script, so two workers cannot both take the last place.
* revocations: four keys however many there are. ``revoked:sessions``, a sorted set of
  session ids scored by when every token they can match has expired (``inf`` when
  tokens never expire); ``revoked:users`` the same for users closed as a whole, with
  each one's cutoff time in the hash ``revoked:before``. Every write first removes what
  expired (ZREMRANGEBYSCORE: it costs what it removes) and merges, keeping the later
  time, so any worker may write any entry again. ``revoked:generation`` is set once the
  list is whole: a worker that finds it gone or changed after a reconnect knows Redis
  lost data and writes back what it holds; otherwise it writes only the revocations it
  made while away. Each worker keeps a mirror (the cookie check is synchronous): read
  with cursors when it (re)subscribes, then kept current by the ``revoke`` messages.
* handovers (the cookies and headers a WebSocket callback set, until its page redeems
  them, ``transport/handover.py``): ``handover:<sha256 of the token>``, the binding and headers as
  JSON, set with the token's lifetime (``PX``) and taken with ``GETDEL`` (Redis 6.2 or
  later), so any worker redeems a token, and only one. The key names no secret: a key
  listing or a keyspace notification shows neither a token nor a value.
* commands (closes, session renewals, pushes): published on ``commands``; every other
  worker carries them out on its own sockets and answers on ``replies:<worker>`` with
  how many acted. PUBLISH says how many subscribers got the message, so the caller knows
  how many answers to wait for. A push crosses Redis once, however many subscribers it
  has, encoded once by its sender (``topics.py``); a ``Publisher`` (a process that is
  no worker) publishes on the same channel and reads its answers on its own.

Redis outage: nothing raises out of here into a request. Closes and pushes still act
on this worker's sockets, listings show this worker's, revocations are kept and written when
Redis is back, handovers are kept by the worker that issued them (logged once per
outage). While the worker cannot be sure its revocation mirror is current, new
sockets are refused with 1013 (``fail_open=True`` admits them). The log says once that
the cluster is degraded, and once that it recovered; recovery (re-subscribing,
reloading revocations, re-publishing presence) needs nothing from anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from quartdash.cluster import wire
from quartdash.cluster.backplane import Backplane, CommandHandler
from quartdash.cluster.models import (
    THIS_WORKER,
    Command,
    ConnectionInfo,
    Headers,
    Revocation,
    Selector,
)
from quartdash.exceptions import BackplaneUnavailable
from quartdash.observe import events

log = logging.getLogger("quartdash.backplane")

_ANNOUNCE = """
-- KEYS: this worker's presence hash, the session's sorted set (or the hash again),
--       the set of workers
-- ARGV: id, now, expiry, limit (-1: none), has_session (1/0), info JSON, worker
if ARGV[5] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
  local limit = tonumber(ARGV[4])
  if limit >= 0 and redis.call('ZCARD', KEYS[2]) >= limit then return 0 end
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  redis.call('PEXPIREAT', KEYS[2], ARGV[3])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[7])
return 1
"""

_FORGET_WORKERS = """
-- KEYS: the set of workers, then the presence hashes of the workers in ARGV
-- Only those whose hash is still missing: one announced meanwhile stays listed.
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('SREM', KEYS[1], ARGV[i - 1]) end
end
return 0
"""

_REVOKE = """
-- KEYS: revoked sessions (sorted set), revoked users (sorted set), users' cutoffs (hash)
-- ARGV: now, then triples: member, until ('inf' allowed), before ('' for a session)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, user in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  redis.call('HDEL', KEYS[3], user)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for i = 2, #ARGV, 3 do
  local member, untl, before = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local set = KEYS[1]
  if before ~= '' then set = KEYS[2] end
  local old = redis.call('ZSCORE', set, member)
  if not old or tonumber(old) < tonumber(untl) then
    redis.call('ZADD', set, untl, member)
  end
  if before ~= '' then
    local was = redis.call('HGET', KEYS[3], member)
    if not was or tonumber(was) < tonumber(before) then
      redis.call('HSET', KEYS[3], member, before)
    end
  end
end
return 0
"""

#: Most times one presence refresh writes the whole hash (see ``_publish_presence``).
_PRESENCE_ROUNDS = 3

#: Revocations per script call, and per cursor step when reading them back.
_BATCH = 1000

#: Errors that mean "Redis is not answering": the backplane degrades, never raises them.
_DOWN = (RedisError, OSError, asyncio.TimeoutError)


class RedisBackplane(Backplane):
    """The backplane over one Redis: ``redis://host:port/db``, optionally with
    ``?fail_open=true`` and ``&presence_ttl=<seconds>`` (default 10)."""

    def __init__(
        self,
        url: str,
        *,
        fail_open: bool = False,
        presence_ttl: float = 10.0,
        reply_timeout: float = 1.0,
        prefix: str = "quartdash",
    ) -> None:
        super().__init__()
        self.url, options = _split_url(url)
        fail_open = fail_open or options.get("fail_open", "").lower() in {"1", "true", "yes"}
        presence_ttl = float(options.get("presence_ttl", presence_ttl))
        self.fail_open = fail_open
        self.presence_ttl = presence_ttl
        self.reply_timeout = reply_timeout
        self._prefix = prefix
        self._handler: CommandHandler | None = None
        self._redis: Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        #: True while subscribed with a freshly loaded revocation mirror.
        self.healthy = False
        self._ready = asyncio.Event()
        self._replies = _Replies()
        self._unsent: list[Revocation] = []
        #: The ``revoked:generation`` this worker last saw with the list whole in Redis.
        self._generation: bytes | str | None = None
        self._revoke_script: AsyncScript | None = None
        #: This process, as ``ConnectionInfo.worker`` names it: host and pid.
        self.worker = THIS_WORKER
        #: True while the subscription is up: a failed command alone (the subscription
        #: intact) is recovered by the presence refresh, not by a new subscription.
        self._subscribed = False
        #: Set once handovers stayed on this worker in an outage (logged once per outage).
        self._handovers_unshared = False
        #: Writes of single presence entries so far (see ``_publish_presence``).
        self._presence_writes = 0

    # --- keys -------------------------------------------------------------------------
    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    @property
    def _commands(self) -> str:
        return self._key("commands")

    def _conns(self, worker: str) -> str:
        return self._key("conns", worker)

    @property
    def _revocation_keys(self) -> list[str]:
        """The revoked sessions, the revoked users, and the users' cutoffs."""
        return [self._key("revoked", name) for name in ("sessions", "users", "before")]

    # --- lifecycle --------------------------------------------------------------------
    async def start(self, handler: CommandHandler) -> None:
        self._handler = handler
        self._redis = _client(self.url, health_check_interval=5)
        self._revoke_script = self._redis.register_script(_REVOKE)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen_forever()),
                       loop.create_task(self._refresh_forever())]
        # The first sockets should not be refused only because the subscription is a
        # few milliseconds behind; an unreachable Redis costs at most this wait.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self._ready.wait()

    async def stop(self) -> None:
        tasks, self._tasks = list(self._tasks), []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._redis is not None:
            with contextlib.suppress(*_DOWN):
                async with asyncio.timeout(1.0):
                    await self._redis.delete(self._conns(self.worker))
                    await self._redis.srem(self._key("workers"), self.worker)
            await self._redis.aclose()
        self._handler = None

    def _degraded(self, exc: BaseException) -> None:
        if self.healthy or not self._ready.is_set():
            log.warning(
                "quartdash: cluster degraded: Redis at %s is unreachable (%s): closes act "
                "on this worker only, listings show this worker only, new sockets are %s",
                _safe(self.url), type(exc).__name__,
                "admitted (fail_open)" if self.fail_open else "refused with 1013",
            )
        self.healthy = False
        events.observer.backplane(False)
        self._ready.set()  # stop waiting in start(): the answer is "degraded"

    # --- the subscription ------------------------------------------------------------
    async def _listen_forever(self) -> None:
        assert self._redis is not None
        delay = 0.1
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._commands, self._key("replies", self.worker))
                self._subscribed = True
                await self._resync()
                self._connected()
                delay = 0.1
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._on_message(message["channel"], message["data"])
            except _DOWN as exc:
                self._degraded(exc)
            finally:
                self._subscribed = False
                with contextlib.suppress(*_DOWN):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _connected(self) -> None:
        """Redis holds what this worker knows again: serve from the cluster."""
        if not self.healthy:
            log.info("quartdash: cluster connected: Redis at %s", _safe(self.url))
        self.healthy = True
        events.observer.backplane(True)
        self._ready.set()

    async def _resync(self) -> None:
        """After (re)subscribing: make Redis hold what this worker knows, tell the
        others of revocations made while it was away, reload the list, publish this
        worker's presence.

        The whole list is written back only if Redis lost data since this worker last
        saw it whole: the generation marker is then gone (a restart, a flush) or another
        one (a worker refilled Redis after a loss, perhaps without this worker's
        entries). Otherwise only what this worker revoked while away is written."""
        assert self._redis is not None
        unsent = list(self._unsent)
        marker = self._key("revoked", "generation")
        generation = await self._redis.get(marker)
        if generation is None or generation != self._generation:
            if generation is None:
                await self._import_legacy()
            await self._store(self.revocations.entries())
            await self._redis.set(marker, secrets.token_hex(8), nx=True)  # once whole
            generation = await self._redis.get(marker)
        else:
            await self._store(unsent)
        self._generation = generation
        if unsent:
            async with self._redis.pipeline(transaction=False) as pipe:
                for entry in unsent:
                    pipe.publish(self._commands, wire.revoke_message(self.worker, entry))
                await pipe.execute()
            del self._unsent[:len(unsent)]
        await self._load_revocations()
        await self._publish_presence()

    async def _load_revocations(self) -> None:
        """Read the whole list into the mirror (this worker may have missed ``revoke``
        messages while away), with cursors: each Redis command, and each step of this
        loop between awaits, stays short however long the list."""
        assert self._redis is not None
        sessions, users, befores = self._revocation_keys
        now = time.time()
        cutoffs = {field.decode(): float(value) async for field, value
                   in self._redis.hscan_iter(befores, count=_BATCH)}
        async for member, until in self._redis.zscan_iter(users, count=_BATCH):
            before = cutoffs.get(member.decode())
            if before is not None and until > now:
                self.revocations.add(Revocation(until, user=member.decode(), before=before))
        async for member, until in self._redis.zscan_iter(sessions, count=_BATCH):
            if until > now:
                self.revocations.add(Revocation(until, session=member.decode()))

    async def _import_legacy(self) -> None:
        """Revocations stored by quartdash before the sorted sets, one key each
        (``revoked:session:<id>``, ``revoked:user:<user>:<before>``, with TTLs), read
        into the mirror so an upgrade revives no logged-out cookie; the next write
        stores them the new way. Only when the marker is missing: after an upgrade,
        or a restart that left Redis (nearly) empty, so the keyspace scan is cheap
        or once."""
        assert self._redis is not None
        for kind in ("session", "user"):
            pattern = self._key("revoked", kind, "*")
            keys = [key async for key in self._redis.scan_iter(pattern, count=_BATCH)]
            for start in range(0, len(keys), _BATCH):
                for raw in await self._redis.mget(keys[start:start + _BATCH]):
                    if raw:
                        self.revocations.add(wire.load_revocation(raw))

    def _on_message(self, channel: bytes, data: bytes) -> None:
        try:
            if channel.decode() != self._commands:
                self._replies.arrived(*wire.read_reply(data))
                return
            sender, request_id, carried = wire.read_message(data)
            if sender == self.worker:
                return  # carried out already, by send()
            if isinstance(carried, Revocation):
                self.revocations.add(carried)
                return
            assert request_id is not None  # read_message gives every command its id
            count, start = (self._handler.carry_out(carried) if self._handler is not None
                            else (0, None))
            task = asyncio.get_running_loop().create_task(
                self._reply(sender, wire.reply_message(request_id, count), start))
            self._tasks.append(task)

            def done(task: asyncio.Task[None]) -> None:
                if task in self._tasks:
                    self._tasks.remove(task)
                if start is not None:
                    start()  # once (idempotent): even if the reply never ran

            task.add_done_callback(done)
        except Exception:  # pylint: disable=broad-exception-caught
            log.warning("quartdash: ignored a malformed backplane message", exc_info=True)

    async def _reply(self, worker: str, reply: bytes, start: Callable[[], None] | None) -> None:
        """Answer ``worker``; then start the sends of the push answered, if it was one
        (see ``_told_first``)."""
        assert self._redis is not None
        with contextlib.suppress(*_DOWN):
            await _told_first(self._redis.publish(self._key("replies", worker), reply), start)

    # --- presence ---------------------------------------------------------------------
    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.presence_ttl / 3)
            if not self.healthy and not self._subscribed:
                continue  # the subscription's recovery re-publishes
            try:
                if not self.healthy:
                    # A command failed (Redis out of memory, say) while the subscription
                    # stayed up: nothing would resubscribe, so recover here, or this
                    # worker would refuse new sockets until the subscription broke.
                    await self._resync()
                await self._publish_presence()
            except _DOWN as exc:
                self._degraded(exc)
            else:
                self._connected()

    async def _publish_presence(self) -> None:
        """Replace this worker's presence with its sockets as they are now.

        The snapshot is taken before the write's await: an announce, refresh or
        withdraw of this worker that reaches Redis meanwhile would be overwritten by
        the older snapshot (a new socket or topic unlisted, a closed one back, until
        the next refresh). Each bumps ``_presence_writes`` first, so when one did, the
        snapshot is taken and written again (its changes are in this worker's state
        before they are sent); a few rounds at most, as writes are rare beside it."""
        for _ in range(_PRESENCE_ROUNDS):
            seen = self._presence_writes
            await self._write_presence()
            if self._presence_writes == seen:
                return

    async def _write_presence(self) -> None:
        assert self._redis is not None and self._handler is not None
        infos = self._handler.local_list(Selector())
        ttl_ms = int(self.presence_ttl * 1000)
        expiry = int(time.time() * 1000) + ttl_ms
        conns = self._conns(self.worker)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(conns)
            if infos:
                pipe.hset(conns, mapping={i.id: wire.dump_info(i) for i in infos})
                pipe.pexpire(conns, ttl_ms)
            pipe.sadd(self._key("workers"), self.worker)
            for info in infos:
                if info.session is not None:
                    session = self._key("session", info.session)
                    pipe.zadd(session, {info.id: expiry})
                    pipe.pexpireat(session, expiry)
            await pipe.execute()

    async def announce(self, info: ConnectionInfo, session_limit: int | None) -> bool:
        if not self.healthy:
            if self.fail_open:
                return True
            raise BackplaneUnavailable("the cluster's revocations cannot be checked")
        assert self._redis is not None
        self._presence_writes += 1
        now = int(time.time() * 1000)
        conns = self._conns(self.worker)
        session = self._key("session", info.session) if info.session else conns
        try:
            admitted = await self._redis.eval(
                _ANNOUNCE, 3, conns, session, self._key("workers"), info.id, now,
                now + int(self.presence_ttl * 1000),
                -1 if session_limit is None else session_limit,
                "1" if info.session else "0", wire.dump_info(info), self.worker,
            )
        except _DOWN as exc:
            self._degraded(exc)
            if self.fail_open:
                return True
            raise BackplaneUnavailable("the cluster is unreachable") from exc
        return bool(admitted)

    async def refresh(self, info: ConnectionInfo) -> None:
        if self._redis is None or not self.healthy:
            return  # the next presence refresh writes it
        self._presence_writes += 1
        try:
            await self._redis.hset(self._conns(self.worker), info.id, wire.dump_info(info))
        except _DOWN as exc:
            self._degraded(exc)

    async def withdraw(self, info: ConnectionInfo) -> None:
        if self._redis is None or not self.healthy:
            return  # the next presence refresh leaves it out
        self._presence_writes += 1
        with contextlib.suppress(*_DOWN):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hdel(self._conns(self.worker), info.id)
                if info.session is not None:
                    pipe.zrem(self._key("session", info.session), info.id)
                await pipe.execute()

    async def list(self, selector: Selector) -> list[ConnectionInfo]:
        local = [] if self._handler is None else self._handler.local_list(selector)
        if self._redis is None or not self.healthy:
            return local
        try:
            members = await self._redis.smembers(self._key("workers"))
            workers = sorted(w.decode() if isinstance(w, bytes) else w for w in members)
            async with self._redis.pipeline(transaction=False) as pipe:
                for worker in workers:
                    pipe.hgetall(self._conns(worker))
                tables = await pipe.execute()
        except _DOWN as exc:
            self._degraded(exc)
            return local
        found: dict[str, ConnectionInfo] = {info.id: info for info in local}
        gone = []
        for worker, table in zip(workers, tables, strict=True):
            if not table:
                gone.append(worker)
                continue
            if worker == self.worker:
                continue  # this worker's own sockets are listed as they are now
            for raw in table.values():
                info = wire.load_info(raw)
                if selector.matches(info):
                    found.setdefault(info.id, info)
        if gone:
            with contextlib.suppress(*_DOWN):
                await self._redis.eval(_FORGET_WORKERS, 1 + len(gone), self._key("workers"),
                                       *(self._conns(worker) for worker in gone), *gone)
        return list(found.values())

    # --- commands and revocations ------------------------------------------------------
    async def send(self, command: Command) -> int:
        local, start = (self._handler.carry_out(command) if self._handler is not None
                        else (0, None))
        try:
            if self._redis is None or not self.healthy:
                return local
            try:
                return local + await self._replies.publish(
                    self._redis, self._commands, self.worker, command, self.reply_timeout,
                    others=lambda receivers: receivers - 1,  # this worker ignores its own
                    published=start)
            except _DOWN as exc:
                self._degraded(exc)
                return local
        finally:
            if start is not None:
                start()  # once (idempotent): whatever became of the publish

    async def revoke(self, entry: Revocation) -> None:
        self.revocations.add(entry)
        if self._redis is None or not self.healthy:
            self._unsent.append(entry)
            return
        try:
            await self._store([entry])
            await self._redis.publish(self._commands, wire.revoke_message(self.worker, entry))
        except _DOWN as exc:
            self._unsent.append(entry)
            self._degraded(exc)

    async def _store(self, entries: Iterable[Revocation]) -> None:
        """Merge the entries into Redis's sets, after removing what expired there:
        one script call per ``_BATCH`` entries (a worker may write back many after a
        Redis restart), and at least one, so a call with none still purges. Times go
        as ``repr`` floats (``inf`` included): never through ``int()``."""
        assert self._revoke_script is not None
        now = time.time()
        args: list[str | float] = []
        called = False
        for entry in entries:
            if entry.until <= now:
                continue
            if entry.session is not None:
                args += [entry.session, entry.until, ""]
            if entry.user is not None and entry.before is not None:
                args += [entry.user, entry.until, entry.before]
            if len(args) >= 3 * _BATCH:
                await self._revoke_script(keys=self._revocation_keys, args=[now, *args])
                args, called = [], True
        if args or not called:
            await self._revoke_script(keys=self._revocation_keys, args=[now, *args])

    # --- handovers ----------------------------------------------------------------------
    def _handover(self, handover_token: str) -> str:
        return self._key("handover", hashlib.sha256(handover_token.encode()).hexdigest())

    async def share_handover(self, handover_token: str, binding: str | None,
                             headers: Headers, seconds: float) -> bool:
        if self._redis is not None and self.healthy:
            value = wire.dump_handover(binding, headers)
            try:
                await self._redis.set(self._handover(handover_token), value,
                                      px=max(1, int(seconds * 1000)))
            except _DOWN as exc:
                self._unshared(exc)
                return False
            self._handovers_unshared = False
            return True
        self._unshared(None)
        return False

    def _unshared(self, exc: BaseException | None) -> None:
        """A handover stays on this worker: say so once per outage. Not ``_degraded``:
        one failed write need not mean the subscription (and the revocation mirror) is
        lost, which is what refuses new sockets."""
        if not self._handovers_unshared:
            self._handovers_unshared = True
            log.warning(
                "quartdash: Redis at %s is unreachable%s: the cookies and headers of "
                "WebSocket callbacks are kept by the worker that ran them, and a page "
                "whose redeem reaches another worker gets 404 (logged once until Redis "
                "takes them again)",
                _safe(self.url), f" ({type(exc).__name__})" if exc is not None else "")

    async def handovers_waiting(self, handover_tokens: Sequence[str]) -> set[str]:
        if self._redis is None or not self.healthy:
            return set(handover_tokens)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in handover_tokens:
                    pipe.exists(self._handover(name))
                found = await pipe.execute()
        except _DOWN as exc:
            self._unshared(exc)
            return set(handover_tokens)
        return {name for name, kept in zip(handover_tokens, found, strict=True) if kept}

    async def take_handover(self, handover_token: str) -> tuple[str | None, Headers] | None:
        if self._redis is None or not self.healthy:
            return None
        try:
            raw = await self._redis.getdel(self._handover(handover_token))
        except _DOWN as exc:
            self._unshared(exc)
            return None
        if raw is None:
            return None
        try:
            return wire.load_handover(raw)
        except (KeyError, TypeError, ValueError):  # orjson's JSONDecodeError included
            log.warning("quartdash: ignored a malformed handover in Redis")
            return None


#: Longest the sends of a push wait for the cluster to be told of it (``_told_first``).
TELL_FIRST_SECONDS = 0.05


async def _told_first(message: Awaitable[Any], then: Callable[[], None] | None) -> Any:
    """Await ``message`` (a PUBLISH: a push, or the answer to one), then run ``then``
    (what starts the push's sends to this worker's sockets). A push starts a send task
    per socket, and the loop runs tasks in turn: started first, 5,000 sends made the
    PUBLISH behind them wait a second, so other workers got the push late and its
    sender counted this worker out. ``then`` waits at most ``TELL_FIRST_SECONDS``, and
    runs whatever happens to the message, whose result (or error) is the caller's."""
    if then is None:
        return await message
    task = asyncio.ensure_future(message)
    try:
        await asyncio.wait({task}, timeout=TELL_FIRST_SECONDS)
    except asyncio.CancelledError:
        task.cancel()  # the caller is gone: so is the message
        raise
    finally:
        then()
    return await task


#: A worker that does not answer commands is logged at most once in this many seconds.
SILENT_LOG_SECONDS = 60.0


class _Replies:
    """Commands published and the answers they wait for, by request id: each worker
    that carries out a command answers its sender on ``replies:<sender>`` with how
    many of its sockets acted (``wire.reply_message``)."""

    def __init__(self) -> None:
        #: By request id: the counts that came, and the event set at each.
        self._waiting: dict[str, tuple[list[int], asyncio.Event]] = {}
        #: No "did not answer" line before this time (``time.monotonic``).
        self._quiet_until = 0.0

    def arrived(self, request: str, count: int) -> None:
        """An answer came (one for a request no longer waited for is dropped)."""
        waiting = self._waiting.get(request)
        if waiting is not None:
            waiting[0].append(count)
            waiting[1].set()

    async def publish(self, redis: Redis, channel: str, sender: str, command: Command,
                      seconds: float, others: Callable[[int], int],
                      published: Callable[[], None] | None = None) -> int:
        """Publish ``command`` and sum the answers of the workers that got it
        (``others`` of PUBLISH's receiver count), waiting up to ``seconds`` for them:
        a worker that does not answer in time is logged and not counted. ``published``
        runs once the message is out (``_told_first``). Redis errors go to the
        caller."""
        request = secrets.token_hex(8)
        counts: list[int] = []
        arrived = asyncio.Event()
        self._waiting[request] = (counts, arrived)
        expected = 0
        try:
            receivers = await _told_first(
                redis.publish(channel, wire.command_message(request, sender, command)),
                published)
            expected = others(int(receivers or 0))
            async with asyncio.timeout(seconds):
                while len(counts) < expected:
                    arrived.clear()
                    await arrived.wait()
        except TimeoutError:
            now = time.monotonic()
            if now >= self._quiet_until:  # a stopped worker must not fill the log
                self._quiet_until = now + SILENT_LOG_SECONDS
                log.warning("quartdash: %d of %d workers did not answer a %s in %.1f s (their "
                            "sockets act on it but are not counted; logged once a minute)",
                            expected - len(counts), expected,
                            type(command).__name__.lower(), seconds)
        finally:
            del self._waiting[request]
        return sum(counts)


#: Longest a publisher waits for its replies subscription (at start, after an outage).
SUBSCRIBE_SECONDS = 5.0


class RedisPublisher:
    """A process that sends commands (pushes) to the workers without being one: no
    presence, no commands of its own to carry out; only a subscription to its own
    replies channel. What ``topics.Publisher`` runs on."""

    def __init__(self, url: str, *, prefix: str = "quartdash", reply_timeout: float = 1.0) -> None:
        self.url, _options = _split_url(url)
        self.reply_timeout = reply_timeout
        self._prefix = prefix
        #: Names this publisher's replies channel; never a worker's name.
        self.name = f"publisher:{THIS_WORKER}:{secrets.token_hex(4)}"
        self._redis: Redis | None = None
        self._replies = _Replies()
        self._reader: asyncio.Task[None] | None = None
        #: Set while the replies subscription is up.
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Connect and subscribe to the replies (confirmed before any push, or an
        early answer would be lost); ``BackplaneUnavailable`` if Redis cannot be
        reached within ``SUBSCRIBE_SECONDS``."""
        self._redis = _client(self.url)
        self._reader = asyncio.get_running_loop().create_task(self._read_forever())
        try:
            await self._subscribed()
        except BackplaneUnavailable:
            await self.stop()
            raise

    async def _subscribed(self) -> None:
        """Wait until the replies subscription is up; ``BackplaneUnavailable`` after
        ``SUBSCRIBE_SECONDS``."""
        try:
            async with asyncio.timeout(SUBSCRIBE_SECONDS):
                await self._ready.wait()
        except TimeoutError:
            raise BackplaneUnavailable(f"Redis at {_safe(self.url)} is unreachable") from None

    async def _read_forever(self) -> None:
        """Subscribe to the replies and read them; after a Redis error, subscribe again
        (with the backplane's backoff), so a publisher outlives an outage."""
        assert self._redis is not None
        delay = 0.1
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(":".join((self._prefix, "replies", self.name)))
                while (await pubsub.get_message(timeout=1.0)) is None:
                    pass  # the subscribe confirmation
                self._ready.set()
                delay = 0.1
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        with contextlib.suppress(KeyError, TypeError, ValueError):
                            self._replies.arrived(*wire.read_reply(message["data"]))
            except _DOWN:
                self._ready.clear()  # pushes wait for the next subscription, or refuse
            finally:
                with contextlib.suppress(*_DOWN):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def send(self, command: Command) -> int:
        if self._redis is None:
            raise BackplaneUnavailable("the publisher is closed")
        await self._subscribed()
        try:
            return await self._replies.publish(
                self._redis, ":".join((self._prefix, "commands")), self.name, command,
                self.reply_timeout, others=lambda receivers: receivers)
        except _DOWN as exc:
            raise BackplaneUnavailable(f"Redis at {_safe(self.url)} is unreachable") from exc

    async def stop(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        redis, self._redis = self._redis, None
        if redis is not None:
            await redis.aclose()


#: Redis connections one process opens at most; a command waits up to
#: ``POOL_WAIT_SECONDS`` for one when all are busy (a burst of subscriptions or of
#: departures), and only past that counts Redis as unreachable. The URL's own
#: ``?max_connections=`` and ``?timeout=`` (read by redis-py) take precedence.
POOL_CONNECTIONS = 50
POOL_WAIT_SECONDS = 2.0


def _client(url: str, **options: Any) -> Redis:
    """A client whose pool waits for a free connection. redis-py's default pool raises
    at once when its 100 connections are busy, which read as Redis being down: a burst
    of 1,000 subscriptions degraded a worker, and its new sockets were refused (1013)."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=POOL_CONNECTIONS, timeout=POOL_WAIT_SECONDS,
        socket_timeout=2.0, socket_connect_timeout=2.0, **options)
    return Redis.from_pool(pool)


def _split_url(url: str) -> tuple[str, dict[str, str]]:
    """The URL for redis-py, and quartdash's own options taken out of its query
    (``fail_open``, ``presence_ttl``), which redis-py would refuse."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    options: dict[str, str] = {name: query.pop(name) for name in ("fail_open", "presence_ttl")
                               if name in query}
    return urlunsplit(parts._replace(query=urlencode(query))), options


#: Query parameters whose values are secrets, by any part of their name: redis-py takes
#: ``password`` (and ``ssl_password``) from the query as readily as from the user info.
_SECRET_PARAMS = ("pass", "pwd", "token", "secret", "auth", "credential")


def _safe(url: str) -> str:
    """The URL for logs: every password masked, wherever it was given (the user info's
    ``:password@`` or a query parameter such as ``?password=``), in ``redis://``,
    ``rediss://`` and ``unix://`` URLs alike; the user name, host, port, path and the
    other parameters stay, as they are what an operator needs to see. The text is
    masked as written, never re-parsed into host and port, so a URL redis-py would
    refuse is still logged without its secret."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "*** (an unparseable URL)"
    if "@" not in parts.netloc and "@" in url.partition("://")[2]:
        # A password with a raw "/", "?" or "#" ends the host early: its rest is not
        # where a password is looked for, so nothing of this URL can be shown safely.
        return f"{parts.scheme}://*** (user info not percent-encoded)"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    netloc = f"{user}{colon}{'***' if colon else ''}{at}{hostport}"
    query = [
        (name, "***" if any(word in name.lower() for word in _SECRET_PARAMS) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    text = f"{parts.scheme}://{netloc}{parts.path}"  # urlunsplit would drop unix:///'s "//"
    if query:
        text += "?" + urlencode(query, safe="*")
    return text + (f"#{parts.fragment}" if parts.fragment else "")

