"""The final checks: every acknowledged user stored exactly once, nothing else stored,
nothing left in Redis."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import aiohttp
import pymysql
import redis.asyncio as aioredis

from cluster import MariaDB, Redis
from driver import User
from inject import TAG


@dataclass
class Row:
    id: int
    request_id: str
    name: str
    email: str | None
    accepted_at: float  # seconds (the producer's clock)
    stored_at: float  # seconds (MariaDB's clock, the commit's UTC_TIMESTAMP)


@dataclass
class Verdict:
    """What the checks found."""

    rows: list[Row] = field(default_factory=list)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    stored_once: int = 0
    lost: list[int] = field(default_factory=list)
    rejected_acked: list[tuple[int, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    extra_rows: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    redis_left: dict[str, int] = field(default_factory=dict)
    dead_letters: list[str] = field(default_factory=list)
    # What failed, by check: "users" (MySQL against the 202s), "redis" (left behind), "reads".
    failures: dict[str, list[str]] = field(default_factory=lambda: {"users": [], "redis": [], "reads": []})
    traces: dict[int, list[str]] = field(default_factory=dict)  # lost id -> its AOF history
    stuck_pending: list[int] = field(default_factory=list)  # stored, yet still in the pending hash
    wrong_status: list[str] = field(default_factory=list)  # GET /api/users/ID not "stored"


def connect(mysql: MariaDB) -> pymysql.Connection:
    return pymysql.connect(host="127.0.0.1", port=mysql.port, user="root", database="registry",
                           connect_timeout=3, autocommit=True)


def _counts(mysql: MariaDB) -> int:
    with connect(mysql) as db, db.cursor() as cur:
        cur.execute("SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM rejected_users)")
        return int(cur.fetchone()[0])


async def wait_drained(redis: Redis, mysql: MariaDB, acked: int, secs: float, quiet: float) -> float | None:
    """Seconds until the queue, the processing lists and the pending hash are empty and
    MySQL holds at least `acked` users or rejections; None if that does not happen within
    `secs`, or if the queue and processing lists stay empty for `quiet` seconds without it
    (then nothing is left to move and the checks will say what is missing)."""
    r = aioredis.Redis(host="127.0.0.1", port=redis.port, socket_timeout=2, decode_responses=True)
    start = time.monotonic()
    idle_since: float | None = None
    try:
        while time.monotonic() - start < secs:
            try:
                left = await redis_leftovers(r)
                if left["queue"] or left["processing"]:
                    idle_since = None
                else:
                    if not left["pending"] and await asyncio.to_thread(_counts, mysql) >= acked:
                        return time.monotonic() - start
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > quiet:
                        return None
            except (aioredis.RedisError, pymysql.MySQLError):
                pass
            await asyncio.sleep(0.25)
        return None
    finally:
        await r.aclose()


async def redis_leftovers(r: aioredis.Redis) -> dict[str, int]:
    """How much is still in each of the queue's structures."""
    processing = 0
    async for key in r.scan_iter(match=f"{TAG}:processing:*", count=1000):
        processing += await r.llen(key)
    return {
        "queue": await r.llen(f"{TAG}:queue"),
        "processing": processing,
        "dead": await r.llen(f"{TAG}:dead"),
        "pending": await r.hlen(f"{TAG}:pending"),
        "attempts": await r.hlen(f"{TAG}:attempts"),
        "consumers": await r.zcard(f"{TAG}:consumers"),
    }


async def read_back(base_url: str, redis: Redis, users: list[User], sample: int) -> list[str]:
    """GET /api/users/ID through the balancer for `sample` random acknowledged users and for
    every id still in the pending hash: each must answer status "stored" (run after the
    drain, while the producers still run). Returns what answered otherwise."""
    r = aioredis.Redis(host="127.0.0.1", port=redis.port, socket_timeout=5, decode_responses=True)
    try:
        pending = [int(i) for i in await r.hkeys(f"{TAG}:pending")]
    finally:
        await r.aclose()
    acked = [u.id for u in users if u.id is not None]
    ids = sorted(set(random.sample(acked, min(sample, len(acked)))) | set(pending))
    wrong = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for uid in ids:
            try:
                async with session.get(f"{base_url}/api/users/{uid}") as resp:
                    body = await resp.json(content_type=None)
                    status = body.get("status") if isinstance(body, dict) else None
                    if resp.status != 200 or status != "stored":
                        wrong.append(f"{uid}: {resp.status} {status} (source {body.get('source')})")
            except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                wrong.append(f"{uid}: {type(err).__name__}")
    return wrong


async def verify(users: list[User], redis: Redis, mysql: MariaDB, wrong_status: list[str]) -> Verdict:
    """Checks MySQL and Redis against what the driver was told (run once every consumer
    has stopped, so that nothing is in flight)."""
    v = Verdict(wrong_status=wrong_status)
    r = aioredis.Redis(host="127.0.0.1", port=redis.port, socket_timeout=5, decode_responses=True)
    try:
        v.redis_left = await redis_leftovers(r)
        v.dead_letters = await r.lrange(f"{TAG}:dead", 0, 9)
        pending_ids = await r.hkeys(f"{TAG}:pending")
    finally:
        await r.aclose()
    v.rows, v.rejected = await asyncio.to_thread(_read_tables, mysql)

    by_key = {u.key: u for u in users}
    acked = {u.key: u for u in users if u.id is not None}
    rows_by_id = {row.id: row for row in v.rows}
    rejected_by_id = {rid: (req, reason) for rid, req, reason in v.rejected}

    for user in acked.values():
        row = rows_by_id.get(user.id)
        if row is not None and row.request_id == user.key:
            v.stored_once += 1
            if row.name != user.name or row.email != user.email:
                v.mismatched.append(f"id {user.id}: stored {row.name!r} <{row.email}>, "
                                    f"sent {user.name!r} <{user.email}>")
        elif user.id in rejected_by_id:
            v.rejected_acked.append((user.id, rejected_by_id[user.id][1]))
        elif row is not None:
            v.mismatched.append(f"id {user.id} answered to {user.key} is stored for {row.request_id}")
        else:
            v.lost.append(user.id)

    for row in v.rows:
        user = by_key.get(row.request_id)
        if user is not None and user.id == row.id:
            continue
        if user is not None and user.id is not None:
            v.duplicates.append(f"{user.key} stored again as id {row.id} (its 202 said {user.id})")
        elif user is not None:
            v.extra_rows.append(f"id {row.id} of {user.key}, which never got a 202 ({user.failure})")
        else:
            v.extra_rows.append(f"id {row.id} with request id {row.request_id!r}, sent by nobody")
    for rid, req, reason in v.rejected:
        user = by_key.get(req)
        if user is not None and user.id is not None and user.id != rid:
            v.duplicates.append(f"{user.key} queued again as id {rid}, rejected: {reason}")

    stored_ids = {row.id for row in v.rows} | set(rejected_by_id)
    v.stuck_pending = sorted(int(i) for i in pending_ids if int(i) in stored_ids)
    users, left, reads = v.failures["users"], v.failures["redis"], v.failures["reads"]
    if v.lost:
        sample = ", ".join(map(str, v.lost[:10]))
        still = len(set(map(str, v.lost)) & set(pending_ids))
        users.append(f"{len(v.lost)} acknowledged users lost (ids {sample}; {still} of them still in the "
                     "pending hash)")
    if v.duplicates:
        users.append(f"{len(v.duplicates)} duplicates: {v.duplicates[:5]}")
    if v.extra_rows:
        users.append(f"{len(v.extra_rows)} rows without a 202: {v.extra_rows[:5]}")
    if v.rejected_acked:
        users.append(f"{len(v.rejected_acked)} acknowledged users rejected although every email is unique: "
                     f"{v.rejected_acked[:5]}")
    if v.mismatched:
        users.append(f"{len(v.mismatched)} rows that differ from what was sent: {v.mismatched[:5]}")
    for what, count in v.redis_left.items():
        if count:
            left.append(f"{what} {count}")
    if v.stuck_pending:
        left.append(f"{len(v.stuck_pending)} of the pending entries are users already stored: ids "
                    f"{v.stuck_pending[:10]}")
    if v.dead_letters:
        left.append(f"dead letters: {v.dead_letters[:3]}")
    if v.wrong_status:
        reads.append(f"{len(v.wrong_status)} answered otherwise: {v.wrong_status[:5]}")
    return v


def _read_tables(mysql: MariaDB) -> tuple[list[Row], list[tuple[int, str, str]]]:
    with connect(mysql) as db, db.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("SELECT id, request_id, name, email, accepted_at_ms, "
                    "UNIX_TIMESTAMP(created_at) FROM users")
        rows = [Row(int(i), req, name, email, int(acc) / 1000, float(at))
                for i, req, name, email, acc, at in cur.fetchall()]
        cur.execute("SELECT id, request_id, reason FROM rejected_users")
        rejected = [(int(i), req, reason) for i, req, reason in cur.fetchall()]
    return rows, rejected
