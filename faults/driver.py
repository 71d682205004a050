"""The load driver: users posted through the balancer at a steady rate, as a good client would.

Each user is one `POST /api/users` with its own `Idempotency-Key` (also sent as
`X-Request-Id`, so that the stored row says which user it is). A user is retried, with the
same key, until it gets a `202`:
- `429` and `503` after their `Retry-After`;
- a refused connection (nothing was sent) after a short backoff;
- a connection closed or reset after sending, or no answer within the timeout: the outcome
  is unknown (the user may be queued), so it is retried with the same key, which answers
  the id of the first attempt if that one was queued.
Every attempt's outcome and time is recorded, and every id a `202` carried.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

# Connections the driver keeps open through the balancer at most.
CONNECTIONS = 128

# Kinds of client-visible errors, in the report's order.
ERROR_KINDS = ("503", "429", "refused", "closed/reset", "timeout", "other")


@dataclass
class User:
    """One user the driver means to add."""

    n: int
    key: str
    name: str
    email: str | None
    first_sent: float = 0.0
    acked_at: float | None = None
    id: int | None = None
    attempts: int = 0
    failure: str | None = None  # a final answer that is not 202 (a bug), or "gave up"

    def body(self) -> bytes:
        payload: dict = {"name": self.name}
        if self.email is not None:
            payload["email"] = self.email
        return json.dumps(payload).encode()


@dataclass
class Attempt:
    """When an attempt ended and how."""

    user: int
    sent: float
    at: float
    kind: str  # "202" or one of ERROR_KINDS
    detail: str = ""


@dataclass
class Driver:
    """Offers `rate` users per second for `duration` seconds to `url` (the balancer)."""

    url: str
    rate: int
    duration: float
    run_id: str
    request_timeout: float
    users: list[User] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    # Seconds from having a connection to the answer, of attempts answered 202.
    latencies: list[float] = field(default_factory=list)
    details: Counter = field(default_factory=Counter)
    started: float = 0.0
    sending_done: float = 0.0
    deadline: float = float("inf")

    def make_user(self, n: int) -> User:
        key = f"{self.run_id}-{n}"
        # Every other user has an email, unique to it: no legitimate rejection can happen, and
        # a user queued twice would show as a second row (no email) or a rejection (email).
        email = f"user{n}.{self.run_id}@faults.example" if n % 2 == 0 else None
        return User(n, key, f"Fault user {n}", email)

    async def run(self, settle: float) -> None:
        """Sends every user on schedule, then retries the unacknowledged ones for `settle` s."""
        connector = aiohttp.TCPConnector(limit=CONNECTIONS, force_close=False, enable_cleanup_closed=True)
        # No limit on waiting for one of the driver's own connections (the users it simulates
        # would each have their own); the server gets 2 s to accept and `request_timeout` to
        # answer once the request is sent.
        timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=2,
                                        sock_read=self.request_timeout)
        # When each request got its connection: latencies count from there, not from the
        # wait for one of the driver's own connections.
        trace = aiohttp.TraceConfig()
        trace.on_connection_create_end.append(_connection_acquired)
        trace.on_connection_reuseconn.append(_connection_acquired)
        tasks: set[asyncio.Task] = set()
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=[trace]) as session:
            try:
                await self.offer(session, tasks)
                self.sending_done = time.time()
                self.deadline = time.time() + settle
                if tasks:
                    await asyncio.wait(set(tasks), timeout=settle + self.request_timeout + 5)
            finally:
                # Users still trying (time is up, or the run was interrupted) stop before the
                # session closes under them.
                for task in list(tasks):
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def offer(self, session: aiohttp.ClientSession, tasks: set[asyncio.Task]) -> None:
        """Starts one user every 1/rate s (in small bursts) until every user is on its way."""
        total = int(self.rate * self.duration)
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.started = time.time()
        n = 0
        while n < total:
            due = min(total, int((loop.time() - start) * self.rate) + 1)
            while n < due:
                user = self.make_user(n)
                self.users.append(user)
                task = asyncio.create_task(self.add(session, user))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
            await asyncio.sleep(0.004)

    async def add(self, session: aiohttp.ClientSession, user: User) -> None:
        """Posts one user until it is acknowledged, answered with an error, or time is up."""
        try:
            await self.post_until_done(session, user)
        except asyncio.CancelledError:
            user.failure = user.failure or "still trying when the run ended"
            raise

    async def post_until_done(self, session: aiohttp.ClientSession, user: User) -> None:
        user.first_sent = time.time()
        backoff = 0.05
        headers = {
            "content-type": "application/json",
            "Idempotency-Key": user.key,
            "X-Request-Id": user.key,
        }
        body = user.body()
        while True:
            user.attempts += 1
            # About one request in 50 closes its connection, as clients come and go, so
            # the balancer keeps spreading new connections over the producers it sees up.
            extra = {"Connection": "close"} if random.random() < 0.02 else {}
            sent, sent_wall = time.monotonic(), time.time()
            ctx: dict[str, float] = {}
            retry_after = None
            try:
                async with session.post(self.url, data=body, headers={**headers, **extra},
                                        trace_request_ctx=ctx) as resp:
                    text = await resp.read()
                    status = resp.status
                    if status == 202:
                        user.id = json.loads(text)["id"]
                        user.acked_at = time.time()
                        self.latencies.append(time.monotonic() - ctx.get("connected", sent))
                        self.attempts.append(Attempt(user.n, sent_wall, user.acked_at, "202"))
                        return
                    if status in (429, 503):
                        kind = str(status)
                        retry_after = _retry_after(resp.headers.get("Retry-After"))
                        detail = _error_code(text)
                    elif status >= 500:
                        kind, detail = "other", f"{status} {_error_code(text)}"
                    else:
                        # 4xx other than 429: the request itself is refused; retrying cannot help.
                        self.record(user.n, sent_wall, "other", f"{status} {_error_code(text)}")
                        user.failure = f"answered {status}: {text[:200].decode(errors='replace')}"
                        return
            except aiohttp.ClientConnectorError as err:
                kind, detail = "refused", type(err).__name__
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError) as err:
                kind, detail = "closed/reset", type(err).__name__
            except TimeoutError as err:
                kind, detail = "timeout", type(err).__name__
            except aiohttp.ClientError as err:
                kind, detail = "other", type(err).__name__
            self.record(user.n, sent_wall, kind, detail)
            if time.time() > self.deadline:
                user.failure = "gave up: no 202 before the end of the run"
                return
            if retry_after is not None:
                delay = min(retry_after, 5.0) * random.uniform(1.0, 1.2)
            else:
                delay = backoff * random.uniform(0.5, 1.5)
                backoff = min(backoff * 2, 2.0)
            await asyncio.sleep(delay)

    def record(self, user: int, sent: float, kind: str, detail: str) -> None:
        self.attempts.append(Attempt(user, sent, time.time(), kind, detail))
        self.details[f"{kind}: {detail}"] += 1

    def error_counts(self) -> Counter:
        """Client-visible errors by kind, over the whole run."""
        return Counter(a.kind for a in self.attempts if a.kind != "202")


async def _connection_acquired(_session, context, _params) -> None:
    context.trace_request_ctx["connected"] = time.monotonic()


def _retry_after(raw: str | None) -> float:
    try:
        return max(0.0, float(raw)) if raw is not None else 1.0
    except ValueError:
        return 1.0


def _error_code(text: bytes) -> str:
    try:
        return str(json.loads(text).get("error", ""))
    except (ValueError, AttributeError):
        return ""
