"""A replicated Redis for the full rehearsal: a primary and its replicas behind one endpoint
that follows the primary, and the failover that moves it.

The endpoint is haproxy checking each server's role (`faults/redis-endpoint.cfg.in`): it
forwards a connection to whichever server says `role:master`, as ElastiCache's primary
endpoint does, and cuts the connections of a server that stops saying so. The hosts and the
rehearsal's own checks all connect to it. The failover is what a managed service does after
the primary dies: the most advanced replica (highest replication offset, as Sentinel and
ElastiCache choose) is promoted, the others follow it, and the old primary comes back later
as a replica of the new one.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import redis.asyncio as aioredis

from cluster import Proc, Redis, free_port, wait_port
from config import Settings

# How often the endpoint checks each server's role; a server is the primary after one check
# that says so, and stops being it after two that do not.
CHECK_INTERVAL_MS = 500


class ReplicatedRedis:
    """`settings.redis_replicas` replicas of one primary, all with AOF on, behind an endpoint."""

    def __init__(self, run_dir: Path, settings: Settings) -> None:
        self.servers = [Redis(run_dir, settings, f"redis-{i}") for i in range(1, settings.redis_replicas + 2)]
        self.primary: Redis = self.servers[0]
        for server in self.replicas:
            server.follow(self.primary)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        config = run_dir / "redis-endpoint.cfg"
        servers = "\n".join(f"    server {s.name} 127.0.0.1:{s.port}" for s in self.servers)
        template = (Path(__file__).parent / "redis-endpoint.cfg.in").read_text()
        config.write_text(
            template.replace("@BIND@", f"127.0.0.1:{self.port}")
            .replace("@INTERVAL@", f"{CHECK_INTERVAL_MS}ms")
            .replace("@SERVERS@", servers)
        )
        self.endpoint = Proc("redis-endpoint", ["haproxy", "-db", "-f", str(config)],
                             run_dir / "logs" / "redis-endpoint.log")

    @property
    def replicas(self) -> list[Redis]:
        return [s for s in self.servers if s is not self.primary]

    @property
    def procs(self) -> list[Proc]:
        return [*(s.proc for s in self.servers), self.endpoint]

    def aof_dirs(self) -> list[Path]:
        return [d for s in self.servers for d in s.aof_dirs()]

    async def start(self) -> None:
        """The servers, the replicas in sync, then the endpoint routing to the primary."""
        for server in self.servers:
            await server.start()
        for replica in self.replicas:
            await wait_synced(replica, 30)
        self.endpoint.start()
        if not await wait_port("127.0.0.1", self.port, 10):
            raise RuntimeError(f"the Redis endpoint did not start; see {self.endpoint.log_path}")
        # haproxy takes every server for up until its checks say otherwise: wait until ten
        # connections in a row reach the primary (round robin would reach a replica).
        await self.wait_routed(self.primary, 10, times=10)

    async def stop(self, sig: signal.Signals = signal.SIGTERM, secs: float = 20) -> None:
        self.endpoint.stop_with(signal.SIGTERM)
        await self.endpoint.wait_exit(5)
        for server in self.servers:
            await server.stop(sig, secs)
        self.endpoint.kill()

    async def promote_most_advanced(self) -> Redis:
        """`REPLICAOF NO ONE` on the replica with the highest replication offset, and every
        other live replica made its replica; returns the new primary."""
        offsets = {}
        for server in self.replicas:
            if server.proc.running():
                offsets[server.name] = await offset(server)
        chosen = max((s for s in self.replicas if s.name in offsets), key=lambda s: offsets[s.name])
        async with client(chosen) as r:
            await r.execute_command("REPLICAOF", "NO", "ONE")
        old, self.primary = self.primary, chosen
        old.follow(chosen)  # when it comes back
        for server in self.replicas:
            server.follow(chosen)
            if server.proc.running():
                async with client(server) as r:
                    await r.execute_command("REPLICAOF", "127.0.0.1", str(chosen.port))
        return chosen

    async def wait_routed(self, server: Redis, secs: float, times: int = 1) -> float:
        """Seconds until `times` connections in a row through the endpoint reach `server` as
        the primary."""
        began = time.monotonic()
        deadline = began + secs
        reached = 0
        while time.monotonic() < deadline:
            try:
                async with aioredis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=0.5,
                                          decode_responses=True) as r:
                    info = await r.info("server")
                    replication = await r.info("replication")
                if info.get("tcp_port") == server.port and replication.get("role") == "master":
                    reached += 1
                    if reached >= times:
                        return time.monotonic() - began
                    continue
            except (aioredis.RedisError, OSError):
                pass
            reached = 0
            await asyncio.sleep(0.05)
        raise RuntimeError(f"the endpoint does not route to {server.name} after {secs:g} s")


def client(server: Redis) -> aioredis.Redis:
    """A connection straight to one server (not through the endpoint)."""
    return aioredis.Redis(port=server.port, socket_timeout=2, socket_connect_timeout=1, decode_responses=True)


async def offset(server: Redis) -> int:
    """How much of the replication stream the server has (its own, for a primary)."""
    async with client(server) as r:
        info = await r.info("replication")
    return int(info.get("slave_repl_offset") or info.get("master_repl_offset") or 0)


async def lag(primary: Redis) -> list[int]:
    """How far behind the primary each of its replicas is, in bytes of the replication stream,
    as the primary sees them (a stalled replica cannot be asked)."""
    async with client(primary) as r:
        info = await r.info("replication")
    ahead = int(info["master_repl_offset"])
    replicas = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
    return [ahead - int(v["offset"]) for v in replicas]


async def wait_synced(server: Redis, secs: float) -> float:
    """Seconds until the replica's link to its primary is up (its initial sync done)."""
    began = time.monotonic()
    while time.monotonic() - began < secs:
        try:
            async with client(server) as r:
                if (await r.info("replication")).get("master_link_status") == "up":
                    return time.monotonic() - began
        except (aioredis.RedisError, OSError):
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{server.name} did not sync with its primary in {secs:g} s; see {server.dir / 'redis.log'}")
