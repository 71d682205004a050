"""What a rehearsal does: its settings and its schedule of faults, short and full."""

from __future__ import annotations

from dataclasses import dataclass, field

# One deployment prefix for every process of the rehearsal.
KEY_PREFIX = "faults"


@dataclass(frozen=True)
class Fault:
    """One fault, injected `at` seconds after the load starts."""

    at: float
    # kill-consumer, pause-consumer, kill-host, restart-redis, crash-redis, stop-mysql,
    # rotate-mysql-password
    kind: str
    target: str = ""  # "host-a/consumer-1", "host-b", or "" for the servers
    secs: float = 0.0  # how long it lasts: down time, pause, or time before a restart

    def label(self) -> str:
        what = {
            "kill-consumer": f"SIGKILL {self.target} mid-batch, restarted {self.secs:g} s later",
            "pause-consumer": f"SIGSTOP {self.target} mid-batch for {self.secs:g} s, then SIGCONT",
            "kill-host": f"SIGKILL {self.target} (producer + consumers), restarted {self.secs:g} s later",
            "restart-redis": "Redis clean restart (SIGTERM: AOF fsynced) on the same data",
            "crash-redis": "Redis SIGKILL (appendfsync always), restarted on the same data",
            "stop-mysql": f"MariaDB stopped (SIGTERM) for {self.secs:g} s, started on the same data",
            "rotate-mysql-password": "the app user's MySQL password changed and its connections cut; "
                                     f"the hosts' password file updated {self.secs:g} s later",
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
    duration=150,
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
    ),
    write_report=True,
)
