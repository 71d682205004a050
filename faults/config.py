"""What a rehearsal does: its settings and its schedule of faults, short and full."""

from __future__ import annotations

from dataclasses import dataclass, field

# One deployment prefix for every process of the rehearsal.
KEY_PREFIX = "faults"


# The failover: how long the replicas' links and the consumers stall before the primary dies
# (the replicas fall behind, the queue grows), and how long after its death a replica is
# promoted (a managed service's detection time).
FAILOVER_STALL = 2.0
PROMOTE_AFTER = 1.0


@dataclass(frozen=True)
class Fault:
    """One fault, injected `at` seconds after the load starts."""

    at: float
    # kill-consumer, pause-consumer, kill-host, restart-redis, crash-redis, stop-mysql,
    # rotate-mysql-password, failover-redis
    kind: str
    target: str = ""  # "host-a/consumer-1", "host-b", or "" for the servers
    secs: float = 0.0  # how long it lasts: down time, pause, or time before a restart

    def label(self) -> str:
        what = {
            "kill-consumer": f"SIGKILL {self.target} mid-batch, restarted {self.secs:g} s later",
            "pause-consumer": f"SIGSTOP {self.target} mid-batch for {self.secs:g} s, then SIGCONT",
            "kill-host": f"SIGKILL {self.target} (producer + consumers), restarted {self.secs:g} s later",
            "restart-redis": "Redis primary clean restart (SIGTERM: AOF fsynced) on the same data",
            "crash-redis": "Redis primary SIGKILL (appendfsync always), restarted on the same data",
            "stop-mysql": f"MariaDB stopped (SIGTERM) for {self.secs:g} s, started on the same data",
            "rotate-mysql-password": "the app user's MySQL password changed and its connections cut; "
                                     f"the hosts' password file updated {self.secs:g} s later",
            "failover-redis": f"failover: every consumer and every replica's link SIGSTOPped for "
                              f"{FAILOVER_STALL:g} s, then the Redis primary SIGKILLed; the most advanced "
                              f"replica promoted {PROMOTE_AFTER:g} s later, the other following it; the "
                              f"old primary back as a replica {self.secs:g} s after its death",
        }
        return what[self.kind]


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a run."""

    name: str
    rate: int  # users per second offered by the driver
    duration: float  # seconds of load
    faults: tuple[Fault, ...]
    consumers_per_host: int = 2
    lease_secs: int = 6  # short, so a paused consumer's messages are re-queued within the run
    batch_size: int = 256
    # The driver is one client IP behind a TCP balancer (every request reaches the producers
    # from haproxy's address): the per-IP limit would throttle the whole load, so it is off.
    rate_limit: int = 0
    # fsync on every write, so that a Redis SIGKILL loses no acknowledged write either.
    appendfsync: str = "always"
    request_timeout: float = 5.0  # one attempt, then it counts as a timeout (outcome unknown)
    settle: float = 60.0  # how long after the load users may still be retried
    drain_timeout: float = 60.0  # how long the queue may take to empty after the load
    write_report: bool = False
    # 0: one Redis. N: a primary and N replicas behind an endpoint that follows the primary
    # (faults/replicated.py), and the producers confirm each enqueue on one replica
    # (REDIS_REPLICA_ACKS=1), so that a failover loses no 202.
    redis_replicas: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def users(self) -> int:
        return int(self.rate * self.duration)


SHORT = Settings(
    name="short",
    rate=300,
    duration=34,
    faults=(
        Fault(3, "kill-consumer", "host-a/consumer-1", 1),
        Fault(6, "kill-host", "host-b", 3),
        Fault(12, "restart-redis"),
        Fault(15, "pause-consumer", "host-a/consumer-2", 9),
        Fault(17, "kill-consumer", "host-b/consumer-1", 1),
        Fault(26, "stop-mysql", secs=6),
    ),
    settle=30,
    drain_timeout=30,
)

FULL = Settings(
    name="full",
    rate=500,
    duration=170,
    faults=(
        Fault(8, "kill-consumer", "host-a/consumer-1", 1),
        Fault(16, "kill-consumer", "host-b/consumer-2", 1),
        Fault(24, "pause-consumer", "host-a/consumer-2", 10),
        Fault(40, "kill-host", "host-b", 6),
        Fault(56, "restart-redis"),
        Fault(66, "kill-consumer", "host-a/consumer-1", 1),
        Fault(76, "stop-mysql", secs=20),
        Fault(104, "crash-redis"),
        Fault(114, "kill-consumer", "host-b/consumer-1", 1),
        Fault(122, "kill-consumer", "host-a/consumer-1", 1),
        Fault(130, "rotate-mysql-password", secs=10),
        Fault(148, "failover-redis", secs=8),
    ),
    write_report=True,
    redis_replicas=2,
)
