"""The fault rehearsal: start the topology, drive users through it, break it, check, report.

Called by scripts/faults (which prepares the venv and the release binaries):
    python faults/main.py [--short] [--keep] [--report PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import aiohttp

import aoftrace
from cluster import ROOT, HAProxy, Host, MariaDB, Proc, Redis, log, make_host, metrics_addr
from config import FULL, SHORT, Settings
from replicated import ReplicatedRedis
from driver import Driver
from inject import Injector
from report import NOTES_MARKER, Report, dump, recoveries
from verify import Verdict, read_back, verify, wait_drained

STOP_WITHIN = 10.0  # the contract: a producer or consumer exits within 10 s of SIGTERM


async def http_ok(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
            return resp.status == 200
    except (TimeoutError, aiohttp.ClientError):
        return False


async def wait_ready(procs: list[Proc], secs: float) -> None:
    """Waits until each producer and consumer answers 200 on /health/ready."""
    deadline = time.monotonic() + secs
    async with aiohttp.ClientSession() as session:
        for proc in procs:
            url = f"http://{ready_addr(proc)}/health/ready"
            while not await http_ok(session, url):
                if not proc.running():
                    raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{proc.name} not ready after {secs:g} s; see {proc.log_path}")
                await asyncio.sleep(0.1)


def ready_addr(proc: Proc) -> str:
    if "--listen" in proc.argv:
        return proc.argv[proc.argv.index("--listen") + 1]
    return metrics_addr(proc)


async def wait_balancer_up(haproxy: HAProxy, hosts: list[Host], secs: float) -> None:
    deadline = time.monotonic() + secs
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        try:
            states = await haproxy.server_states()
        except OSError:  # the stats socket comes a moment after the port
            pass
        if all(states.get(h.name) == "UP" for h in hosts):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"haproxy does not see every producer up: {states}")


def count_lines(path: Path, message: str, after: float = 0.0) -> int:
    """JSON log lines of `path` with this message, logged after `after` (epoch seconds)."""
    needle = f'"message":"{message}"'
    stamp = re.compile(r'"timestamp":"([^"]+)"')
    n = 0
    with open(path, errors="replace") as f:
        for line in f:
            if needle not in line:
                continue
            if after:
                m = stamp.search(line)
                if not m or datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp() < after:
                    continue
            n += 1
    return n


async def stop_gracefully(procs: list[Proc]) -> dict[str, tuple[int | None, float]]:
    """SIGTERM to each running process at once; (exit code, seconds) of each."""
    started = time.monotonic()
    running = [p for p in procs if p.running()]
    for proc in running:
        proc.signal(signal.SIGCONT)
        proc.stop_with(signal.SIGTERM)

    async def one(proc: Proc) -> tuple[int | None, float]:
        code = await proc.wait_exit(STOP_WITHIN + 5)
        return code, time.monotonic() - started

    results = await asyncio.gather(*(one(p) for p in running))
    return {p.name: r for p, r in zip(running, results)}


Check = tuple[str, bool, str]  # what, passed, detail


async def rehearse(settings: Settings, run_dir: Path, command: str) -> Report:
    """Starts the topology, drives users through it while the faults hit, checks, reports."""
    began = time.monotonic()
    load_before = os.getloadavg()
    redis = ReplicatedRedis(run_dir, settings) if settings.redis_replicas else Redis(run_dir, settings)
    mysql = MariaDB(run_dir)
    hosts: list[Host] = []
    haproxy: HAProxy | None = None
    try:
        log(f"starting Redis{f' (a primary and {settings.redis_replicas} replicas)' if settings.redis_replicas else ''} "
            f"and MariaDB (data and logs in {run_dir})")
        await asyncio.gather(redis.start(), mysql.start())
        await mysql.migrate()
        hosts = [
            make_host("host-a", "127.0.0.2", settings.consumers_per_host, run_dir, redis.url, mysql, settings),
            make_host("host-b", "127.0.0.3", settings.consumers_per_host, run_dir, redis.url, mysql, settings),
        ]
        haproxy = await start_hosts_and_balancer(hosts, run_dir)

        injector = Injector(hosts, redis, mysql, haproxy, settings.lease_secs)
        driver = Driver(f"http://127.0.0.1:{haproxy.port}/api/users", settings.rate, settings.duration,
                        f"f{time.strftime('%H%M%S')}", settings.request_timeout)
        await drive_and_break(settings, driver, injector)
        acked = sum(1 for u in driver.users if u.id is not None)
        log(f"load done: {acked:,} of {len(driver.users):,} users acknowledged; waiting for the queue to drain")
        drained_after = await wait_drained(redis, mysql, acked, settings.drain_timeout, settings.lease_secs + 4)

        checks = await process_checks(settings, hosts, [*redis.procs, mysql.proc, haproxy.proc], injector)
        checks.append(("queue drained after the load", drained_after is not None,
                       f"{drained_after:.1f} s" if drained_after is not None else
                       f"users still pending after {settings.drain_timeout:g} s, or with nothing "
                       "left in the queue to store them"))
        log("reading users back through the balancer")
        wrong_status = await read_back(f"http://127.0.0.1:{haproxy.port}", redis, driver.users, 200)

        log("stopping producers and consumers with SIGTERM")
        stopped = await stop_gracefully([p for h in hosts for p in h.procs()])
        slow = [f"{n} (exit {c}, {s:.1f} s)" for n, (c, s) in stopped.items() if c != 0 or s > STOP_WITHIN]
        checks.append((f"each producer and consumer exited 0 within {STOP_WITHIN:g} s of SIGTERM",
                       not slow, ", ".join(slow)))

        log("checking MySQL and Redis")
        verdict = await verify(driver.users, redis, mysql, wrong_status)
        checks += data_checks(verdict, driver, redis)
        return Report(
            settings=settings, driver=driver, verdict=verdict,
            recoveries=recoveries(driver, injector.done, verdict, injector.samples),
            drained_after=drained_after, checks=checks,
            per_host={h.name: count_lines(h.producer.log_path, "user queued") for h in hosts},
            stops={n: f"exit {c} in {s:.1f} s" for n, (c, s) in stopped.items()},
            command=command, elapsed=time.monotonic() - began, load_before=load_before,
        )
    finally:
        await stop_everything(hosts, haproxy, redis, mysql)


async def start_hosts_and_balancer(hosts: list[Host], run_dir: Path) -> HAProxy:
    """Starts every producer and consumer, waits until each is ready, then haproxy, and waits
    until haproxy sees every producer up."""
    for host in hosts:
        for proc in host.procs():
            proc.start()
    await wait_ready([p for h in hosts for p in h.procs()], 60)
    haproxy = HAProxy(run_dir, hosts)
    await haproxy.start()
    await wait_balancer_up(haproxy, hosts, 15)
    log(f"ready: haproxy on 127.0.0.1:{haproxy.port} -> "
        + ", ".join(f"{h.name} {h.address}:{h.producer_port}" for h in hosts))
    return haproxy


async def drive_and_break(settings: Settings, driver: Driver, injector: Injector) -> None:
    """The load and the faults at once, with the sampler watching; returns when both are done."""
    sampling = asyncio.Event()
    sampler = asyncio.create_task(injector.sample(sampling))
    log(f"load: {settings.users:,} users at {settings.rate}/s for {settings.duration:g} s, "
        f"{len(settings.faults)} faults")
    t0 = time.time()
    try:
        await asyncio.gather(driver.run(settings.settle), injector.run(settings.faults, t0))
    finally:
        sampling.set()
        await sampler
        await injector.close()


async def process_checks(settings: Settings, hosts: list[Host], servers: list[Proc],
                         injector: Injector) -> list[Check]:
    """What the processes did: none crashed, all ready, every fault injected and recovered."""
    checks: list[Check] = []
    everything = [*servers, *(q for h in hosts for q in h.procs())]
    for proc in everything:
        proc.check_alive()
    crashed = [f"{p.name} {c}" for p in everything for c in p.crashes]
    crashed += [f"{p.name} not running at the end" for p in everything if not p.running()]
    checks.append(("no process exited on its own", not crashed, ", ".join(crashed)))
    async with aiohttp.ClientSession() as session:
        not_ready = [p.name for h in hosts for p in h.procs()
                     if not await http_ok(session, f"http://{ready_addr(p)}/health/ready")]
    checks.append(("every producer and consumer ready at the end", not not_ready, ", ".join(not_ready)))
    failed = [f"{i.fault.kind} {i.fault.target}: {i.error}" for i in injector.done if i.error]
    checks.append(("every fault injected as scheduled",
                   not failed and len(injector.done) == len(settings.faults), "; ".join(failed)))
    procs = {p.name: p for h in hosts for p in h.procs()}
    for name, resumed in injector.resumed.items():
        batches = count_lines(procs[name].log_path, "batch done", resumed)
        checks.append((f"{name} stored batches again after SIGCONT", batches > 0, f"{batches} batches"))
    for inj in injector.done:
        if inj.fault.kind == "kill-host" and inj.restored:
            served = count_lines(procs[f"{inj.fault.target}/producer"].log_path, "user queued", inj.restored)
            checks.append((f"{inj.fault.target}'s producer queued users again after its restart",
                           served > 0, f"{served} users"))
    late = [f"{i.fault.kind} {i.fault.target}: "
            + ("never" if i.notes.get("requeued_after") is None else f"{i.notes['requeued_after']:.1f} s")
            for i in injector.done if "requeued_after" in i.notes
            and (i.notes["requeued_after"] is None or i.notes["requeued_after"] > settings.lease_secs + 1)]
    checks.append((f"a killed or paused consumer's messages back in the queue within LEASE_SECS "
                   f"({settings.lease_secs} s, +1 s for measuring)", not late, "; ".join(late)))
    return checks


def data_checks(verdict: Verdict, driver: Driver, redis: Redis | ReplicatedRedis) -> list[Check]:
    """What MySQL and Redis hold against what the driver was told; lost or stuck users are
    traced through Redis's append-only file."""
    failures = verdict.failures
    checks: list[Check] = [
        ("every 202 id stored exactly once (MySQL): no loss, no duplicate, no row without a 202",
         not failures["users"], "; ".join(failures["users"])),
        ("Redis left empty: queue, processing lists, pending and attempts hashes, dead letters, leases",
         not failures["redis"], "; ".join(failures["redis"])),
        ("users read back through the balancer (200 sampled + every id left pending) say \"stored\"",
         not failures["reads"], "; ".join(failures["reads"])),
    ]
    if verdict.lost or verdict.stuck_pending:
        verdict.traces = trace(redis, verdict.lost[:10] + verdict.stuck_pending[:10])
    never = Counter((u.failure or "")[:60] for u in driver.users if u.id is None)
    checks.append(("every user sent got a 202", not never, ", ".join(f"{k} x{v}" for k, v in never.items())))
    return checks


def trace(redis: Redis | ReplicatedRedis, ids: list[int]) -> dict[int, list[str]]:
    """What the AOF of each Redis server says happened to these users (each line named after
    its server when there are several)."""
    folders = redis.aof_dirs()
    traces: dict[int, list[str]] = {i: [] for i in ids}
    for folder in folders:
        try:
            found = aoftrace.trace(folder, ids)
        except (OSError, StopIteration, ValueError) as err:
            found = {i: [f"no trace: {type(err).__name__} {err}"] for i in ids}
        for uid, events in found.items():
            traces[uid] += [f"{folder.parent.name}: {e}" if len(folders) > 1 else e for e in events]
    return traces


async def stop_everything(hosts: list[Host], haproxy: HAProxy | None, redis: Redis | ReplicatedRedis,
                          mysql: MariaDB) -> None:
    """Whatever still runs, by pid: producers and consumers killed, the servers stopped."""
    for proc in [p for h in hosts for p in h.procs()]:
        proc.signal(signal.SIGCONT)
        proc.kill()
    if haproxy is not None:
        haproxy.proc.stop_with(signal.SIGTERM)
        await haproxy.proc.wait_exit(5)
    await redis.stop(signal.SIGTERM, 10)
    await mysql.stop(60)
    for proc in [*redis.procs, mysql.proc] + ([haproxy.proc] if haproxy else []):
        proc.kill()


def write_keeping_notes(path: Path, generated: str) -> None:
    """Writes the generated report, keeping what follows NOTES_MARKER in the existing file
    (the findings written by people survive a new run)."""
    notes = ""
    if path.exists():
        old = path.read_text()
        if NOTES_MARKER in old:
            notes = old[old.index(NOTES_MARKER):]
    path.write_text(generated + ("\n" + notes if notes else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="the short version (tens of seconds) for the tests")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (data and logs) even if it passed")
    parser.add_argument("--report", type=Path, default=ROOT / "RELIABILITY.md",
                        help="where the full run writes its report (default: RELIABILITY.md)")
    args = parser.parse_args()
    settings = SHORT if args.short else FULL
    command = "scripts/faults" + (" --short" if args.short else "")
    if os.environ.get("FAULTS_BIN_DIR"):
        command = f"FAULTS_BIN_DIR={os.environ['FAULTS_BIN_DIR']} {command}"
    run_dir = ROOT / ".tmp" / f"faults-{settings.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)

    loop = asyncio.new_event_loop()
    main_task = loop.create_task(rehearse(settings, run_dir, command))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main_task.cancel)
    try:
        report = loop.run_until_complete(main_task)
    except asyncio.CancelledError:
        log(f"interrupted; logs kept in {run_dir}")
        return 130
    except Exception as err:
        log(f"the rehearsal could not run: {err}; logs kept in {run_dir}")
        raise
    finally:
        loop.close()

    dump(report, run_dir)
    print(report.summary(), file=sys.stderr)
    if settings.write_report:
        write_keeping_notes(args.report, report.markdown())
        log(f"wrote {args.report}")
    if report.passed and not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        log(f"data, logs and figures.json kept in {run_dir}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
