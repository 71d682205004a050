"""The rehearsal's processes: Redis, MariaDB, haproxy and two "HTTP hosts".

Every process is started here, by pid, with its output appended to a log file under the
run folder, and dies with the orchestrator (`setpriv --pdeathsig KILL`) so that nothing
is left behind even if the orchestrator itself is killed. Only these pids are ever
signalled.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from config import KEY_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
# The binaries under test: the project's release build, or FAULTS_BIN_DIR (another build,
# e.g. of a candidate fix).
RELEASE = Path(os.environ.get("FAULTS_BIN_DIR") or ROOT / "target" / "release").resolve()

# Settings of the binaries that must come from this rehearsal only, never from the caller.
_SCRUBBED_ENV = (
    "LISTEN_ADDR REDIS_URL MYSQL_URL MYSQL_PASSWORD_FILE KEY_PREFIX LOG_FORMAT METRICS_ADDR "
    "CACHE_TTL_SECS RATE_LIMIT_PER_SEC RATE_LIMIT_BURST TRUSTED_PROXIES CORS_ORIGINS BATCH_SIZE "
    "MAX_ATTEMPTS LEASE_SECS RUST_LOG HOSTNAME REDIS_MODE REDIS_SENTINEL_MASTER REDIS_PASSWORD_FILE "
    "REDIS_REPLICA_ACKS REDIS_REPLICA_ACK_TIMEOUT_MS"
).split()


def log(message: str) -> None:
    """Progress on stderr, stamped with the wall clock."""
    stamp = time.strftime("%H:%M:%S", time.localtime())
    print(f"faults {stamp} {message}", file=sys.stderr, flush=True)


# Every port free_port has handed out in this run.
_HANDED_OUT: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at `host` right now, and never one handed out before in
    this run: Redis and MariaDB both get theirs before either starts, and the kernel may offer
    the same free port twice (it once did, and MariaDB could not bind)."""
    while True:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


async def wait_port(host: str, port: int, secs: float) -> bool:
    """Waits until host:port accepts TCP connections; False after `secs`."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            return True
        except OSError:
            await asyncio.sleep(0.05)
    return False


@dataclass
class Proc:
    """One process of the rehearsal, restartable with the same command line."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen | None = None
    # Set while the process is down because the rehearsal stopped it (until its restart).
    down_on_purpose: bool = False
    # Exits nobody asked for, noticed by `check_alive`.
    crashes: list[str] = field(default_factory=list)

    def start(self) -> None:
        """Starts (or restarts) the process; its output goes to the end of its log file."""
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env.update(self.env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.popen = subprocess.Popen(
                ["setpriv", "--pdeathsig", "KILL", "--", *self.argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
            )
        self.down_on_purpose = False

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    def running(self) -> bool:
        """Whether the process is alive (a stopped one counts as alive)."""
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        """Sends `sig` to this process, by pid, if it still runs."""
        if self.running():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL on purpose: the exit is not a crash."""
        self.stop_with(signal.SIGKILL)

    def stop_with(self, sig: signal.Signals) -> None:
        """Sends a signal meant to end the process: its exit is not a crash."""
        if self.running():
            self.down_on_purpose = True
            os.kill(self.pid, sig)

    async def wait_exit(self, secs: float) -> int | None:
        """The exit code once the process has exited, or None after `secs`."""
        deadline = time.monotonic() + secs
        while self.popen is not None and self.popen.poll() is None:
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.02)
        return None if self.popen is None else self.popen.returncode

    def check_alive(self) -> None:
        """Records an exit nobody asked for (once per start)."""
        if self.popen is not None and not self.down_on_purpose and self.popen.poll() is not None:
            self.crashes.append(f"exited with {self.popen.returncode} at {time.strftime('%H:%M:%S')}")
            self.down_on_purpose = True  # noted; a restart clears it


class Redis:
    """redis-server with AOF on, its data in the run folder, restartable on the same port."""

    def __init__(self, run_dir: Path, settings: Settings, name: str = "redis") -> None:
        self.name = name
        self.dir = run_dir / name
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self._argv = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.dir), "--appendonly", "yes",
            "--appendfsync", settings.appendfsync, "--save", "", "--daemonize", "no",
            # Never rewritten: the AOF keeps every command of the run, for aoftrace.py.
            "--auto-aof-rewrite-percentage", "0",
            # As deployed: beyond a maxmemory only keys with a TTL (cached users) are evicted.
            "--maxmemory-policy", "volatile-lru",
            "--logfile", str(self.dir / "redis.log"),
        ]
        self.proc = Proc(name, list(self._argv), run_dir / "logs" / f"{name}.out")

    def follow(self, primary: Redis | None) -> None:
        """How the server starts next time: as a replica of `primary`, or (None) as a primary."""
        where = [] if primary is None else ["--replicaof", "127.0.0.1", str(primary.port)]
        self.proc.argv = [*self._argv, *where]

    async def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc.start()
        if not await wait_port("127.0.0.1", self.port, 15):
            raise RuntimeError(f"redis-server did not start; see {self.dir / 'redis.log'}")

    async def stop(self, sig: signal.Signals = signal.SIGTERM, secs: float = 20) -> int | None:
        self.proc.stop_with(sig)
        return await self.proc.wait_exit(secs)

    # What a single server and a replicated one have in common (see ReplicatedRedis).

    @property
    def primary(self) -> Redis:
        return self

    @property
    def procs(self) -> list[Proc]:
        return [self.proc]

    def aof_dirs(self) -> list[Path]:
        return [self.dir / "appendonlydir"]


# The application's MySQL user: the hosts log in as it, with the password in a file, as in
# production; the rehearsal's own checks use root.
APP_USER = "registry_app"


class MariaDB:
    """mariadbd with its data in the run folder, stoppable and restartable on the same port."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir / "mysql"
        self.port = free_port()
        self.url = f"mysql://root@127.0.0.1:{self.port}/registry"
        self.app_url = f"mysql://{APP_USER}@127.0.0.1:{self.port}/registry"
        # What the hosts read their password from; a rotation rewrites it.
        self.password_file = run_dir / "mysql-app-password"
        binary = shutil.which("mariadbd") or shutil.which("mysqld") or "/usr/sbin/mariadbd"
        user = ["--user=root"] if os.geteuid() == 0 else []
        self.proc = Proc(
            "mariadb",
            [
                binary, "--no-defaults", f"--datadir={self.dir / 'data'}", *user,
                f"--port={self.port}", "--bind-address=127.0.0.1",
                f"--socket={self.dir / 'mysqld.sock'}", f"--pid-file={self.dir / 'mysqld.pid'}",
                "--innodb-buffer-pool-size=256M", "--innodb-log-file-size=256M",
                "--innodb-flush-log-at-trx-commit=1", "--max-connections=500",
                f"--log-error={self.dir / 'mysqld.err'}",
            ],
            run_dir / "logs" / "mariadb.out",
        )
        self._user = user

    async def start(self) -> None:
        if not (self.dir / "data" / "mysql").is_dir():
            self.dir.mkdir(parents=True, exist_ok=True)
            log(f"initialising a MariaDB data folder in {self.dir / 'data'}")
            init = await asyncio.create_subprocess_exec(
                "mariadb-install-db", "--no-defaults", f"--datadir={self.dir / 'data'}", *self._user,
                "--auth-root-authentication-method=normal", "--skip-test-db",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )
            _, err = await init.communicate()
            if init.returncode != 0:
                raise RuntimeError(f"mariadb-install-db failed: {err.decode(errors='replace')[-2000:]}")
        self.proc.start()
        if not await wait_port("127.0.0.1", self.port, 60):
            raise RuntimeError(f"MariaDB did not start; see {self.dir / 'mysqld.err'}")

    async def stop(self, secs: float = 60) -> int | None:
        self.proc.stop_with(signal.SIGTERM)
        return await self.proc.wait_exit(secs)

    def write_password(self, password: str) -> None:
        """Replaces the hosts' password file at once (a new file renamed over the old)."""
        fresh = self.password_file.with_suffix(".new")
        fresh.write_text(password + "\n")
        fresh.chmod(0o600)
        fresh.replace(self.password_file)

    async def migrate(self) -> None:
        """The deploy-time migration, as production runs it: the schema, and the application
        user the migration grants (SELECT and INSERT on the users, and the count), its password taken from the hosts' file."""
        self.write_password(os.urandom(12).hex())
        migrate = await asyncio.create_subprocess_exec(
            str(RELEASE / "producer"), "migrate",
            "--app-user", APP_USER, "--app-password-file", str(self.password_file),
            "--app-host", "127.0.0.1", env={**os.environ, "LOG_FORMAT": "json", "MYSQL_URL": self.url},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await migrate.communicate()
        if migrate.returncode != 0:
            raise RuntimeError(f"producer migrate failed: {err.decode(errors='replace')[-2000:]}")


@dataclass
class Host:
    """One "HTTP host": a loopback address with a producer and its consumers."""

    name: str
    address: str
    producer_port: int
    producer: Proc
    consumers: list[Proc]

    def procs(self) -> list[Proc]:
        return [self.producer, *self.consumers]


def make_host(name: str, address: str, consumers: int, run_dir: Path, redis_url: str,
              mysql: MariaDB, settings: Settings) -> Host:
    """A host's processes (not started): the producer and `consumers` consumers."""
    common = {
        "REDIS_URL": redis_url,
        "MYSQL_URL": mysql.app_url,
        "MYSQL_PASSWORD_FILE": str(mysql.password_file),
        "KEY_PREFIX": KEY_PREFIX,
        "LOG_FORMAT": "json",
        "RUST_LOG": "info",
        # Names the host in /health, /api/stats and the consumers' ids.
        "HOSTNAME": name,
    }
    port = free_port(address)
    producer = Proc(
        f"{name}/producer",
        [str(RELEASE / "producer"), "--listen", f"{address}:{port}"],
        run_dir / "logs" / f"{name}-producer.log",
        {**common, "RATE_LIMIT_PER_SEC": str(settings.rate_limit),
         # With replicas, a 202 only once one of them holds the enqueue.
         "REDIS_REPLICA_ACKS": "1" if settings.redis_replicas else "0"},
    )
    workers = []
    for i in range(1, consumers + 1):
        metrics = free_port(address)
        workers.append(Proc(
            f"{name}/consumer-{i}",
            [str(RELEASE / "consumer"), "--metrics-listen", f"{address}:{metrics}"],
            run_dir / "logs" / f"{name}-consumer-{i}.log",
            {**common, "LEASE_SECS": str(settings.lease_secs), "BATCH_SIZE": str(settings.batch_size)},
        ))
    return Host(name, address, port, producer, workers)


def metrics_addr(consumer: Proc) -> str:
    """The consumer's --metrics-listen address."""
    return consumer.argv[consumer.argv.index("--metrics-listen") + 1]


class HAProxy:
    """haproxy in TCP mode in front of the hosts' producers, health-checking /health/ready."""

    def __init__(self, run_dir: Path, hosts: list[Host]) -> None:
        self.port = free_port()
        self.socket = run_dir / "haproxy.sock"
        self.config = run_dir / "haproxy.cfg"
        servers = "\n".join(
            f"    server {h.name} {h.address}:{h.producer_port}" for h in hosts
        )
        template = (Path(__file__).parent / "haproxy.cfg.in").read_text()
        self.config.write_text(
            template.replace("@BIND@", f"127.0.0.1:{self.port}")
            .replace("@SOCKET@", str(self.socket))
            .replace("@SERVERS@", servers)
        )
        self.proc = Proc("haproxy", ["haproxy", "-db", "-f", str(self.config)], run_dir / "logs" / "haproxy.log")

    async def start(self) -> None:
        check = await asyncio.create_subprocess_exec(
            "haproxy", "-c", "-f", str(self.config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await check.communicate()
        if check.returncode != 0:
            raise RuntimeError(f"haproxy rejects {self.config}: {out.decode(errors='replace')}")
        self.proc.start()
        if not await wait_port("127.0.0.1", self.port, 10):
            raise RuntimeError(f"haproxy did not start; see {self.proc.log_path}")

    async def server_states(self) -> dict[str, str]:
        """Each producer's state as haproxy sees it (UP, DOWN, ...), from its stats socket."""
        reader, writer = await asyncio.open_unix_connection(str(self.socket))
        try:
            writer.write(b"show stat -1 4 -1\n")
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), 2)
        finally:
            writer.close()
        lines = raw.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        name, status = header.index("svname"), header.index("status")
        states = {}
        for line in lines[1:]:
            cols = line.split(",")
            if len(cols) > status:
                states[cols[name]] = cols[status].split(" ")[0]
        return states
