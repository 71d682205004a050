"""Figures of a run: users, errors, recovery per fault; as a summary and as RELIABILITY.md."""

from __future__ import annotations

import bisect
import json
import os
import platform
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from config import Settings
from replicated import CHECK_INTERVAL_MS
from driver import ERROR_KINDS, Driver
from inject import Injected
from verify import Verdict


# Everything after this line of RELIABILITY.md is written by people and kept by new runs.
NOTES_MARKER = "<!-- Findings: written by people, kept when scripts/faults regenerates the figures above. -->"


@dataclass
class Recovery:
    """How the system and its clients came through one fault (seconds from the injection)."""

    injected: Injected
    errors: Counter = field(default_factory=Counter)
    first_202: float | None = None
    longest_gap: float = 0.0
    errors_until: float | None = None
    drained: float | None = None
    peak_backlog: int | None = None
    balancer: list[str] = field(default_factory=list)


def recoveries(driver: Driver, injected: list[Injected], verdict: Verdict,
               samples: list[tuple[float, int | None, dict[str, str]]]) -> list[Recovery]:
    """Each fault's figures, over its window: from its injection to the next one's (the last
    one's window ends when sending ends)."""
    done = sorted((i for i in injected if i.at), key=lambda i: i.at)
    acks = sorted(a.at for a in driver.attempts if a.kind == "202")
    acks_by_sent = sorted((a.sent, a.at) for a in driver.attempts if a.kind == "202")
    # A 503 by its error code (unavailable, not_replicated, outcome_unknown).
    errors = sorted((a.at, f"503 {a.detail}" if a.kind == "503" and a.detail else a.kind)
                    for a in driver.attempts if a.kind != "202")
    rows = sorted((row.accepted_at, row.stored_at) for row in verdict.rows)
    out = []
    for k, inj in enumerate(done):
        start = inj.at
        end = done[k + 1].at if k + 1 < len(done) else max(driver.sending_done, start)
        rec = Recovery(inj)
        in_window = [e for e in errors if start <= e[0] < end]
        rec.errors = Counter(kind for _, kind in in_window)
        if in_window:
            rec.errors_until = in_window[-1][0] - start
        i = bisect.bisect_left(acks_by_sent, (start, 0.0))
        if i < len(acks_by_sent):
            rec.first_202 = min(at for _, at in acks_by_sent[i:]) - start
        window = acks[bisect.bisect_left(acks, start):bisect.bisect_left(acks, end)]
        points = [start, *window]
        rec.longest_gap = max((b - a for a, b in zip(points, points[1:])), default=end - start)
        # Users accepted before the fault ended (a MySQL outage or refusal ends when it is back; every
        # other fault must be absorbed by what survives it): when was the last one stored?
        cutoff = inj.restored if inj.fault.kind in ("stop-mysql", "rotate-mysql-password") and inj.restored else start
        before = [stored for accepted, stored in rows[:bisect.bisect_right(rows, (cutoff, float("inf")))]]
        if before:
            rec.drained = max(max(before) - start, 0.0)
        backlog = [b for t, b, _ in samples if start <= t < end and b is not None]
        rec.peak_backlog = max(backlog) if backlog else None
        rec.balancer = _transitions(samples, start, end)
        out.append(rec)
    return out


def _transitions(samples, start: float, end: float) -> list[str]:
    """haproxy's changes of mind about each producer within the window."""
    seen: dict[str, str] = {}
    out = []
    for t, _, states in samples:
        for server, state in states.items():
            if t < start:
                seen[server] = state
            elif t < end and seen.get(server) != state:
                if server in seen:
                    out.append(f"{server} {state} +{t - start:.1f}s")
                seen[server] = state
    return out


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


@dataclass
class Report:
    """Everything a run measured."""

    settings: Settings
    driver: Driver
    verdict: Verdict
    recoveries: list[Recovery]
    drained_after: float | None
    checks: list[tuple[str, bool, str]]  # (what, passed, detail)
    per_host: dict[str, int]
    stops: dict[str, str]
    command: str
    elapsed: float
    load_before: tuple[float, float, float]

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.checks)

    def user_figures(self) -> list[tuple[str, int]]:
        users = self.driver.users
        acked = sum(1 for u in users if u.id is not None)
        v = self.verdict
        return [
            ("users sent (each with its own Idempotency-Key)", len(users)),
            ("acknowledged (202 with an id)", acked),
            ("stored exactly once (id, request id, name and email as sent)", v.stored_once),
            ("rejected with a reason", len(v.rejected)),
            ("duplicates", len(v.duplicates)),
            ("lost (202 but neither stored nor rejected)", len(v.lost)),
            ("rows without a 202", len(v.extra_rows)),
            ("never acknowledged (client gave up or was refused)", len(users) - acked),
            ("202s answered from an Idempotency-Key record (a retry of an attempt that had queued "
             "the user without the client seeing the answer)", max(0, acked - sum(self.per_host.values()))),
            ("HTTP attempts in all", len(self.driver.attempts)),
        ]

    def error_figures(self) -> list[tuple[str, int]]:
        counts = self.driver.error_counts()
        names = {
            "503": "503 (Retry-After: queue unreachable, or too few replicas confirmed in time)",
            "429": "429 (rate limited)",
            "refused": "connection refused",
            "closed/reset": "connection closed or reset (outcome unknown)",
            "timeout": f"no answer within {self.settings.request_timeout:g} s (outcome unknown)",
            "other": "other",
        }
        return [(names[k], counts.get(k, 0)) for k in ERROR_KINDS]

    def timing_figures(self) -> list[tuple[str, str]]:
        lat = self.driver.latencies
        store = [row.stored_at - row.accepted_at for row in self.verdict.rows]
        waits = [u.acked_at - u.first_sent for u in self.driver.users if u.acked_at is not None]
        return [
            ("202 latency through the balancer p50 / p99 / max",
             f"{percentile(lat, 50) * 1000:.1f} / {percentile(lat, 99) * 1000:.1f} / "
             f"{max(lat, default=0) * 1000:.0f} ms"),
            ("a user's wait for its 202, retries included, p50 / p99 / max",
             f"{percentile(waits, 50) * 1000:.1f} ms / {percentile(waits, 99):.2f} s / "
             f"{max(waits, default=0):.2f} s"),
            ("accepted to stored p50 / p99 / max",
             f"{percentile(store, 50) * 1000:.0f} ms / {percentile(store, 99):.2f} s / "
             f"{max(store, default=0):.2f} s"),
            ("queue empty after the load ended", _s(self.drained_after)),
        ]

    def summary(self) -> str:
        lines = [f"fault rehearsal ({self.settings.name}): "
                 f"{'PASSED' if self.passed else 'FAILED'} in {self.elapsed:.0f} s"]
        lines += [f"  {name:<64} {value}" for name, value in self.user_figures()]
        lines.append("  client-visible errors (each retried):")
        lines += [f"    {name:<62} {value}" for name, value in self.error_figures()]
        lines += [f"  {name:<64} {value}" for name, value in self.timing_figures()]
        lines.append("  faults (times from the injection):")
        for rec in self.recoveries:
            lines.append(f"    +{rec.injected.at - self.driver.started:6.1f}s {rec.injected.fault.label()}")
            lines.append("        " + self._recovery_text(rec))
        if self.verdict.traces:
            lines.append("  what the Redis AOF says happened to lost or stuck users (faults/aoftrace.py):")
            for uid, events in self.verdict.traces.items():
                lines.append(f"    user {uid}:")
                lines += [f"      {e}" for e in events]
        lines.append("  checks:")
        lines += [f"    {'ok  ' if ok else 'FAIL'} {what}{': ' + detail if detail else ''}"
                  for what, ok, detail in self.checks]
        return "\n".join(lines)

    def _recovery_text(self, rec: Recovery) -> str:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(rec.errors.items())) or "none"
        notes = _notes(rec.injected)
        return (f"errors {errors}; until {_s(rec.errors_until)}; first 202 {_s(rec.first_202)}; "
                f"longest gap without a 202 {_s(rec.longest_gap)}; backlog drained {_s(rec.drained)}; "
                f"peak backlog {rec.peak_backlog}; balancer {rec.balancer or '-'}; {notes}")

    def markdown(self) -> str:
        s = self.settings
        t = [
            "# Reliability: the fault rehearsal",
            "",
            "Generated by `scripts/faults` (the full run) on "
            f"{datetime.now().strftime('%Y-%m-%d %H:%M')}; `scripts/faults --short` runs a shorter "
            "version as part of `scripts/test`. Every figure below comes from that run: "
            f"**{'every check passed' if self.passed else 'SOME CHECKS FAILED'}**.",
            "",
            "## What it does",
            "",
            "It rehearses the production topology on one machine and breaks it while users flow:",
            "",
            f"- two \"HTTP hosts\" on their own loopback addresses, `host-a` on 127.0.0.2 and `host-b` on "
            f"127.0.0.3, each running a producer and {s.consumers_per_host} consumers (release binaries);",
            *self._redis_text(),
            "- haproxy (from apt) on 127.0.0.1 as the network load balancer: TCP mode, health check "
            "`GET /health/ready` every second, down after 2 failures, up after 2 successes, a refused "
            "connection retried on the other producer (`faults/haproxy.cfg.in`);",
            f"- a load driver (Python asyncio, aiohttp) that offers {s.rate} users per second for "
            f"{s.duration:g} s through the balancer, each with its own `Idempotency-Key`, and retries "
            "as a good client does: `429`/`503` after `Retry-After`, refused connections after a "
            "backoff, and a connection lost after sending or a timeout (outcome unknown) with the "
            "same key; about one request in 50 closes its connection, as clients come and go;",
            "- the faults of the schedule below, injected while the load runs (a consumer is SIGKILLed or "
            "SIGSTOPped only once it is seen holding messages in flight: it is stopped, its processing "
            "list looked at, and resumed and watched again if it had just finished its batch);",
            "- at the end, the checks: every id that got a `202` stored exactly once (its row has the id, "
            "request id, name and email sent), no row without a `202`, no rejection (every email is unique "
            "and every other user has none, so a user queued twice would show as a second row or as a "
            "rejection); the queue, the processing lists, the pending and attempts hashes and the "
            "dead-letter list empty, and the lease table too once the consumers have stopped; 200 users "
            "picked at random, and every id still pending, read back through the balancer as `stored`; "
            "a killed or paused consumer's messages back in the queue within `LEASE_SECS`; the paused "
            "consumer storing again after SIGCONT; the restarted host's producer queuing users again; no "
            "process exited on its own; every producer and consumer ready at the end and exiting 0 within "
            "10 s of SIGTERM. Any failed check makes the command exit 1; the run's logs, data, "
            "`figures.json` and `attempts.csv` (every HTTP attempt) are then kept under `.tmp/faults-*`, "
            "and lost users are traced through Redis's append-only file (`faults/aoftrace.py`).",
            "",
            "```",
            "driver ──> haproxy 127.0.0.1 (mode tcp, checks GET /health/ready)",
            "             ├──> host-a 127.0.0.2: producer, consumer-1, consumer-2 ─┐",
            "             └──> host-b 127.0.0.3: producer, consumer-1, consumer-2 ─┴──> "
            + ("Redis endpoint ──> primary + replicas (AOF), MariaDB" if s.redis_replicas else "Redis (AOF), MariaDB"),
            "```",
            "",
            "## Settings",
            "",
            "| setting | value | why |",
            "|---|---|---|",
            f"| `LEASE_SECS` | {s.lease_secs} | short, so a paused or killed consumer's messages come back "
            "within the run (lease deadline 5 s, heartbeat every 2 s) |",
            f"| `BATCH_SIZE` | {s.batch_size} | the default |",
            f"| `RATE_LIMIT_PER_SEC` | {s.rate_limit} (off) | in TCP mode every request reaches the producers "
            "from haproxy's address, so the per-IP limit would throttle the one driver as one client; "
            "`TRUSTED_PROXIES` is empty (nothing adds `X-Forwarded-For`) |",
            f"| Redis | `appendonly yes`, `appendfsync {s.appendfsync}` | so that a Redis *crash* (SIGKILL) "
            "loses no acknowledged write either; the clean restart (SIGTERM) fsyncs with any setting |",
            *([f"| `REDIS_REPLICA_ACKS` (producers) | 1, of {s.redis_replicas} replicas | a `202` only once a "
               "replica holds the enqueue (`WAIT`, 500 ms at most, else `503 not_replicated`), so that a "
               "failover loses no `202` |"] if s.redis_replicas else []),
            "| MariaDB | `innodb_flush_log_at_trx_commit=1` | a commit is on disk |",
            f"| driver | one attempt times out after {s.request_timeout:g} s; users retried until "
            f"{s.settle:g} s after the load | |",
            "| `KEY_PREFIX` | `faults` | one deployment |",
            "",
            "## Schedule",
            "",
            "| at | fault |",
            "|---|---|",
        ]
        t += [f"| +{f.at:g} s | {f.label()} |" for f in s.faults]
        t += ["", "## Results", "", "| figure | value |", "|---|---|"]
        t += [f"| {name} | {value:,} |" for name, value in self.user_figures()]
        t += [f"| {name} | {value} |" for name, value in self.timing_figures()]
        t += ["", "Client-visible errors, each followed by a retry (a user counts once per failed attempt):",
              "", "| kind | attempts |", "|---|---|"]
        t += [f"| {name} | {value:,} |" for name, value in self.error_figures()]
        t += ["", "`202`s per producer (from their logs): " +
              ", ".join(f"{h} {n:,}" for h, n in self.per_host.items()) + ".", ""]
        t += [
            "## Recovery from each fault",
            "",
            "Times are seconds from the injection. Each fault's window runs to the next fault.",
            "",
            "- **first 202**: until the first `202` to a request sent after the injection;",
            "- **errors until**: until the last client-visible error in the window (when clients "
            "stopped seeing errors); **errors**: failed attempts in the window by kind;",
            "- **longest gap**: the longest time in the window without any `202` (at this rate a "
            f"`202` arrives every {1000 / s.rate:.0f} ms or so);",
            "- **backlog drained**: until every user accepted before the fault ended was stored "
            "(from the rows' acceptance and commit times; a MariaDB outage ends when it is back, "
            "other faults must be absorbed by what survives them). 0 when the messages a killed "
            "consumer held had been committed already and only their acknowledgement was lost "
            "(the redelivery then finds them stored);",
            "- **peak backlog**: most users accepted but not yet stored (the pending hash, sampled "
            "every 250 ms); **balancer**: haproxy's view of the producers changing.",
            "",
            "| at | fault | errors | errors until | first 202 | longest gap | backlog drained | "
            "peak backlog | balancer | seen |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for rec in self.recoveries:
            errors = ", ".join(f"{k} {v:,}" for k, v in sorted(rec.errors.items())) or "none"
            t.append(
                f"| +{rec.injected.at - self.driver.started:.1f} s | {rec.injected.fault.label()} | {errors} | "
                f"{_s(rec.errors_until)} | {_s(rec.first_202)} | {_s(rec.longest_gap)} | "
                f"{_s(rec.drained)} | {rec.peak_backlog if rec.peak_backlog is not None else 'n/a'} | "
                f"{'; '.join(rec.balancer) or '-'} | {_notes(rec.injected)} |"
            )
        t += ["", "## Checks", ""]
        t += [f"- {'passed' if ok else '**FAILED**'}: {what}{' (' + detail + ')' if detail else ''}"
              for what, ok, detail in self.checks]
        if self.verdict.traces:
            t += ["", "What the Redis AOF says happened to lost or stuck users (`faults/aoftrace.py`):", "", "```"]
            for uid, events in self.verdict.traces.items():
                t += [f"user {uid}:", *[f"  {e}" for e in events]]
            t.append("```")
        t += ["", "Shutdown at the end (SIGTERM): " +
              "; ".join(f"{k} {v}" for k, v in self.stops.items()) + ".", ""]
        t += ["## How it was run", "", "```sh", self.command, "```", "",
              f"It took {self.elapsed:.0f} s in all (servers' start, load, drain, checks). "
              "Logs of every process are kept under `.tmp/faults-*/logs/` when a run fails "
              "(and with `--keep`).", "", "Machine:", ""]
        t += [f"- {line}" for line in machine()]
        t.append("- load average when the run started (1, 5, 15 min): "
                 + ", ".join(f"{x:.2f}" for x in self.load_before)
                 + " (the machine is shared: other work running at the same time shows in the figures)")
        t.append("")
        return "\n".join(t)


    def _redis_text(self) -> list[str]:
        """The Redis part of the topology's description."""
        s = self.settings
        if not s.redis_replicas:
            return ["- one Redis with its append-only file on, one MariaDB, both started from the OS "
                    "packages with their data in the run's folder;"]
        return [
            f"- Redis as a primary and {s.redis_replicas} replicas, each with its append-only file on, "
            "behind one endpoint that follows the primary (haproxy checking each server's `role:master` "
            f"every {CHECK_INTERVAL_MS} ms and cutting the connections of a server that stops being it, "
            "`faults/redis-endpoint.cfg.in`), as ElastiCache's primary endpoint does; the hosts and the "
            "checks connect to the endpoint. The failover is what a managed service does: the most "
            "advanced replica promoted (`REPLICAOF NO ONE`), the others following it, the old primary "
            "back later as a replica (`faults/replicated.py`). The Redis restarts and crashes of the "
            "schedule hit whichever server is the primary then;",
            "- one MariaDB; every server started from the OS packages with its data in the run's folder;",
        ]


def _notes(inj: Injected) -> str:
    n = inj.notes
    parts = []
    if inj.error:
        parts.append(f"injection failed: {inj.error}")
    if "in_flight" in n:
        parts.append(f"{n['in_flight']} in flight")
    if n.get("requeued_after") is not None:
        parts.append(f"re-queued after {n['requeued_after']:.1f} s")
    elif "requeued_after" in n:
        parts.append("not seen re-queued")
    if n.get("live_again_after") is not None:
        parts.append(f"heartbeat again {n['live_again_after']:.1f} s after SIGCONT")
    if "replicas_behind_bytes" in n:
        parts.append(f"primary SIGKILLed at +{n['primary_killed_after']:.2f} s, its replicas "
                     + " and ".join(f"{b:,}" for b in n["replicas_behind_bytes"]) + " bytes behind")
    if n.get("routed_after") is not None:
        parts.append(f"the endpoint on the new primary at +{n['routed_after']:.2f} s")
    if "stopped_after" in n:
        parts.append(f"exit {n['exit']} after {n['stopped_after']:.2f} s")
    if inj.restored:
        parts.append(f"back at +{inj.restored - inj.at:.2f} s")
    return ", ".join(parts) or "-"


def machine() -> list[str]:
    def first(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
            return out.splitlines()[0] if out else "?"
        except (OSError, subprocess.SubprocessError):
            return "?"

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    os_name = next((line.split("=", 1)[1].strip('"') for line in Path("/etc/os-release").read_text().splitlines()
                    if line.startswith("PRETTY_NAME=")), "?")
    return [
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB of memory, {os_name}, Linux {platform.release()}",
        first(["redis-server", "--version"]),
        first(["mariadbd", "--version"]),
        first(["haproxy", "-v"]),
        f"Python {platform.python_version()}",
        f"commit {first(['git', 'rev-parse', '--short', 'HEAD'])}"
        + (", with uncommitted changes in the working tree" if _dirty() else ""),
    ]


def _dirty() -> bool:
    try:
        return subprocess.run(["git", "diff", "--quiet", "HEAD"], capture_output=True, timeout=10).returncode == 1
    except (OSError, subprocess.SubprocessError):
        return False


def dump(report: Report, folder: Path) -> None:
    """The raw figures (figures.json) and every attempt (attempts.csv), for a closer look."""
    with open(folder / "attempts.csv", "w") as out:
        out.write("user,sent,answered,outcome,detail\n")
        for a in report.driver.attempts:
            out.write(f"{a.user},{a.sent:.4f},{a.at:.4f},{a.kind},{a.detail}\n")
    data = {
        "users": dict(report.user_figures()),
        "errors": dict(report.error_figures()),
        "error_details": dict(report.driver.details),
        "checks": [{"what": w, "ok": ok, "detail": d} for w, ok, d in report.checks],
        "faults": [
            {"fault": r.injected.fault.label(), "at": r.injected.at - report.driver.started,
             "notes": r.injected.notes, "errors": dict(r.errors), "errors_until": r.errors_until,
             "first_202": r.first_202, "longest_gap": r.longest_gap, "drained": r.drained,
             "peak_backlog": r.peak_backlog, "balancer": r.balancer}
            for r in report.recoveries
        ],
    }
    (folder / "figures.json").write_text(json.dumps(data, indent=2, default=str))
