"""Injecting the faults of a schedule, each recorded with its times and what was seen."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass, field

import pymysql
import redis.asyncio as aioredis

from cluster import APP_USER, HAProxy, Host, MariaDB, Proc, Redis, log
from config import FAILOVER_STALL, KEY_PREFIX, PROMOTE_AFTER, Fault
from replicated import ReplicatedRedis, lag, wait_synced

TAG = "{" + KEY_PREFIX + "}"


@dataclass
class Injected:
    """What happened when a fault was injected (wall-clock seconds)."""

    fault: Fault
    at: float = 0.0  # the injection
    restored: float = 0.0  # what was broken is back (restart done, process resumed, ...)
    notes: dict = field(default_factory=dict)
    error: str | None = None


class Injector:
    """Injects faults into the rehearsal's processes and watches Redis to see their effect."""

    def __init__(self, hosts: list[Host], redis: Redis | ReplicatedRedis, mysql: MariaDB, haproxy: HAProxy,
                 lease_secs: int) -> None:
        self.hosts = {h.name: h for h in hosts}
        self.redis = redis
        self.mysql = mysql
        self.haproxy = haproxy
        self.lease = lease_secs
        self.r = aioredis.Redis(host="127.0.0.1", port=redis.port, socket_timeout=1,
                                socket_connect_timeout=0.5, decode_responses=True)
        self.done: list[Injected] = []
        self.samples: list[tuple[float, int | None, dict[str, str]]] = []
        self.resumed: dict[str, float] = {}  # consumer name -> when it was resumed
        self.tasks: set[asyncio.Task] = set()

    def consumer(self, target: str) -> Proc:
        """The consumer named `target` ("host-a/consumer-1"), as it runs now."""
        host = target.partition("/")[0]
        return next(c for c in self.hosts[host].consumers if c.name == target)

    def spawn(self, coro) -> asyncio.Task:
        """A task that `close` cancels if it still runs."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def close(self) -> None:
        """Cancels what still runs (an interrupted run) and closes the Redis connection."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.r.aclose()

    async def run(self, schedule: tuple[Fault, ...], t0: float) -> None:
        """Injects each fault at its time after `t0` (a wall-clock time), concurrently."""
        tasks = []
        for fault in schedule:
            delay = t0 + fault.at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(self.spawn(self.inject(fault)))
        await asyncio.gather(*tasks)

    async def inject(self, fault: Fault) -> None:
        record = Injected(fault)
        self.done.append(record)
        action = {
            "kill-consumer": self.kill_consumer,
            "pause-consumer": self.pause_consumer,
            "kill-host": self.kill_host,
            "restart-redis": self.restart_redis,
            "crash-redis": self.restart_redis,
            "stop-mysql": self.stop_mysql,
            "rotate-mysql-password": self.rotate_mysql_password,
            "failover-redis": self.fail_over_redis,
        }[fault.kind]
        try:
            await action(fault, record)
        except Exception as err:  # noqa: BLE001 - a failed injection is reported, not fatal
            record.error = f"{type(err).__name__}: {err}"
            log(f"fault {fault.kind} {fault.target} failed: {record.error}")

    # --- consumers -----------------------------------------------------------------------

    async def consumer_id(self, proc: Proc, secs: float = 10) -> str:
        """The consumer's id in the lease table (`HOSTNAME-pid-random`)."""
        prefix = f"{proc.name.split('/')[0]}-{proc.pid}-"
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            try:
                for member in await self.r.zrange(f"{TAG}:consumers", 0, -1):
                    if member.startswith(prefix):
                        return member
            except aioredis.RedisError:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{proc.name} (pid {proc.pid}) never appeared in the lease table")

    async def in_flight(self, cid: str) -> int:
        """Messages in both of the consumer's processing lists (it takes the next batch into
        its second list while it stores the batch in the first)."""
        lists = [f"{TAG}:processing:{cid}", f"{TAG}:processing:{cid}:next"]
        return sum([await self.r.llen(key) for key in lists])

    async def freeze_mid_batch(self, procs: list[tuple[Proc, str]], secs: float = 5) -> tuple[Proc, int]:
        """SIGSTOPs one of the consumers while it holds messages in flight: waits until one
        has a non-empty processing list, stops it, and looks again (a consumer that finished
        its batch in between is resumed and watched again). Returns the stopped consumer and
        how many messages it holds; after `secs`, stops the first one whatever it holds."""
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            for proc, cid in procs:
                if await self.in_flight(cid) > 0:
                    proc.signal(signal.SIGSTOP)
                    held = await self.in_flight(cid)
                    if held > 0:
                        return proc, held
                    proc.signal(signal.SIGCONT)
        proc, cid = procs[0]
        proc.signal(signal.SIGSTOP)
        return proc, await self.in_flight(cid)

    async def wait_reaped(self, cid: str, since: float, secs: float) -> float | None:
        """Seconds from `since` until the consumer left the lease table with nothing in flight."""
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            try:
                gone = await self.r.zscore(f"{TAG}:consumers", cid) is None
                if gone and await self.in_flight(cid) == 0:
                    return time.time() - since
            except aioredis.RedisError:
                pass
            await asyncio.sleep(0.1)
        return None

    async def kill_consumer(self, fault: Fault, record: Injected) -> None:
        proc = self.consumer(fault.target)
        cid = await self.consumer_id(proc)
        _, record.notes["in_flight"] = await self.freeze_mid_batch([(proc, cid)])
        proc.kill()
        record.at = time.time()
        await proc.wait_exit(5)
        log(f"SIGKILL {proc.name} (pid {proc.pid}) with {record.notes['in_flight']} messages in flight")
        reaped = self.spawn(self.wait_reaped(cid, record.at, self.lease + 10))
        await asyncio.sleep(max(0.0, record.at + fault.secs - time.time()))
        proc.start()
        record.restored = time.time()
        record.notes["requeued_after"] = await reaped

    async def pause_consumer(self, fault: Fault, record: Injected) -> None:
        proc = self.consumer(fault.target)
        cid = await self.consumer_id(proc)
        _, record.notes["in_flight"] = await self.freeze_mid_batch([(proc, cid)])
        record.at = time.time()
        log(f"SIGSTOP {proc.name} (pid {proc.pid}) with {record.notes['in_flight']} messages in flight")
        record.notes["requeued_after"] = await self.wait_reaped(cid, record.at, fault.secs)
        await asyncio.sleep(max(0.0, record.at + fault.secs - time.time()))
        proc.signal(signal.SIGCONT)
        record.restored = time.time()
        self.resumed[proc.name] = record.restored
        log(f"SIGCONT {proc.name} (pid {proc.pid})")
        record.notes["live_again_after"] = None
        deadline = time.monotonic() + self.lease + 5
        while time.monotonic() < deadline:
            if await self.r.zscore(f"{TAG}:consumers", cid) is not None:
                record.notes["live_again_after"] = time.time() - record.restored
                break
            await asyncio.sleep(0.05)

    # --- a whole host ----------------------------------------------------------------------

    async def kill_host(self, fault: Fault, record: Injected) -> None:
        host = self.hosts[fault.target]
        cids = [await self.consumer_id(c) for c in host.consumers]
        await self.freeze_mid_batch(list(zip(host.consumers, cids, strict=True)), 2)
        for proc in host.procs():
            proc.kill()
        record.at = time.time()
        for proc in host.procs():
            await proc.wait_exit(5)
        record.notes["in_flight"] = sum([await self.in_flight(c) for c in cids])
        log(f"SIGKILL {host.name}: producer and {len(host.consumers)} consumers, "
            f"{record.notes['in_flight']} messages in flight")
        reaped = [self.spawn(self.wait_reaped(c, record.at, self.lease + 10)) for c in cids]
        await asyncio.sleep(max(0.0, record.at + fault.secs - time.time()))
        for proc in host.procs():
            proc.start()
        record.restored = time.time()
        log(f"restarted {host.name}")
        times = [await t for t in reaped]
        record.notes["requeued_after"] = None if None in times else max(times)

    # --- servers ---------------------------------------------------------------------------

    async def restart_redis(self, fault: Fault, record: Injected) -> None:
        crash = fault.kind == "crash-redis"
        primary = self.redis.primary
        record.at = time.time()
        code = await primary.stop(signal.SIGKILL if crash else signal.SIGTERM)
        record.notes["exit"] = code
        record.notes["stopped_after"] = time.time() - record.at
        await primary.start()
        record.restored = time.time()
        log(f"Redis {'killed' if crash else 'stopped'} (exit {code}) and back after "
            f"{record.restored - record.at:.2f} s")

    async def fail_over_redis(self, fault: Fault, record: Injected) -> None:
        """The primary dies while every replica is behind and the consumers too, and a
        replica takes its place, as with a managed service's automatic failover."""
        if not isinstance(self.redis, ReplicatedRedis):
            raise RuntimeError("a failover needs replicas (Settings.redis_replicas)")
        pair = self.redis
        stalled = [c for h in self.hosts.values() for c in h.consumers] + [s.proc for s in pair.replicas]
        old = pair.primary
        record.at = time.time()
        for proc in stalled:
            proc.signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(FAILOVER_STALL)
            behind = await lag(old)
            old.proc.kill()
            died = time.time()
            await old.proc.wait_exit(5)
        finally:
            for proc in stalled:
                proc.signal(signal.SIGCONT)
        record.notes["replicas_behind_bytes"] = behind
        record.notes["primary_killed_after"] = died - record.at
        log(f"SIGKILL the Redis primary {old.name}, its replicas {', '.join(map(str, behind))} bytes "
            "behind after a stall of their links")
        await asyncio.sleep(max(0.0, died + PROMOTE_AFTER - time.time()))
        new = await pair.promote_most_advanced()
        routed = await pair.wait_routed(new, 10)
        record.notes["routed_after"] = time.time() - record.at
        log(f"promoted {new.name}; the endpoint routes to it {routed:.2f} s later")
        await asyncio.sleep(max(0.0, died + fault.secs - time.time()))
        await old.start()
        await wait_synced(old, 30)
        record.restored = time.time()
        log(f"{old.name} back as a replica of {new.name} {record.restored - died:.2f} s after its death")

    async def stop_mysql(self, fault: Fault, record: Injected) -> None:
        record.at = time.time()
        code = await self.mysql.stop()
        record.notes["exit"] = code
        record.notes["stopped_after"] = time.time() - record.at
        log(f"MariaDB stopped (exit {code}) in {record.notes['stopped_after']:.2f} s")
        await asyncio.sleep(max(0.0, record.at + fault.secs - time.time()))
        await self.mysql.start()
        record.restored = time.time()
        log(f"MariaDB started again after {record.restored - record.at:.2f} s")

    async def rotate_mysql_password(self, fault: Fault, record: Injected) -> None:
        """What a managed rotation does: a new password in MySQL, the old sessions cut, and
        the secret on the hosts renewed only `secs` later; meanwhile every login is refused."""
        new = os.urandom(12).hex()
        record.at = time.time()
        cut = await asyncio.to_thread(self._rotate, new)
        record.notes["connections_cut"] = cut
        log(f"MySQL password of {APP_USER} changed, {cut} connections cut")
        await asyncio.sleep(max(0.0, record.at + fault.secs - time.time()))
        self.mysql.write_password(new)
        record.restored = time.time()
        log(f"the hosts' password file updated after {record.restored - record.at:.2f} s")

    def _rotate(self, password: str) -> int:
        with pymysql.connect(host="127.0.0.1", port=self.mysql.port, user="root") as db, db.cursor() as cur:
            cur.execute(f"ALTER USER '{APP_USER}'@'127.0.0.1' IDENTIFIED BY %s", (password,))
            cur.execute("SELECT id FROM information_schema.processlist WHERE user = %s", (APP_USER,))
            ids = [row[0] for row in cur.fetchall()]
            for session in ids:
                try:
                    cur.execute(f"KILL {int(session)}")
                except pymysql.MySQLError:
                    pass  # it ended by itself
            return len(ids)

    # --- watching ------------------------------------------------------------------------

    async def sample(self, stop: asyncio.Event) -> None:
        """Every 250 ms: users accepted but not yet stored (the pending hash), haproxy's view
        of each producer, and any process that exited without being told to."""
        procs = [*self.redis.procs, self.mysql.proc, self.haproxy.proc,
                 *(p for h in self.hosts.values() for p in h.procs())]
        while not stop.is_set():
            for proc in procs:
                proc.check_alive()
            backlog: int | None
            try:
                backlog = await self.r.hlen(f"{TAG}:pending")
            except aioredis.RedisError:
                backlog = None
            try:
                states = await self.haproxy.server_states()
            except (TimeoutError, OSError, ValueError, IndexError):
                states = {}
            self.samples.append((time.time(), backlog, states))
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except TimeoutError:
                pass
