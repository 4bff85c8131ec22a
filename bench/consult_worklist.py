"""Benchmark: latency from a consult status change to its worklist event on live sockets.

Runs the production path on loopback: a fresh PostgreSQL database of its own, the Redis channel
layer under a bench prefix, two daphne processes, and N WebSockets on `/ws/events/` split
across them, each signed in with its own session. A department queue of specialists watches
a few submitted consults; every change is a real claim or decline through the consult services
in this process, and each one reaches every socket (the whole queue sees the consult move).

Latency is measured per socket, from just before the commit (after which the events are
published) to the socket receiving the matching `consult.worklist_changed` (consult id and
status). Both timestamps come from `time.perf_counter()` in this process. The last line
printed is one line of JSON.

    .venv/bin/python bench/consult_worklist.py --connections 200 --changes 100
"""

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import logging
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "yunzhen_bench"
POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
CHANNEL_PREFIX = "yunzhen-bench"
TARGET_P99_MS = 100.0
# The whole run stays under two minutes; each phase gets what is left of this.
RUN_SECONDS = 110.0
EVENT_WAIT_SECONDS = 3.0
DAPHNE_START_SECONDS = 30.0
CONNECT_CONCURRENCY = 25
CONSULTS = 8
SPECIALTY_DEPARTMENT = ("qh-city", "放射科")
REQUESTER = "dr.li"


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _bench_env() -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "server.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"{POSTGRES}/{DATABASE}",
        "REDIS_URL": REDIS_URL,
        "CHANNEL_LAYER_PREFIX": CHANNEL_PREFIX,
        # Room for a burst of changes queued on one socket while its daphne is busy.
    }


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


# --- Setup: database, seed, sessions ------------------------------------------------------


def _database_recreate() -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _redis_clear() -> None:
    """Drop the bench prefix's keys (groups expire only after a day)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{CHANNEL_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@dataclass(frozen=True)
class Seeded:
    session_keys: list[str]  # one per socket
    consult_ids: list[int]
    specialist_user_ids: list[int]


def _seed(*, connections: int, users: int) -> Seeded:
    """The demo consortium, `users` radiologists in one queue, and submitted consults."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    from consult.models import ConsentMethod, ConsentRelation, Kind, Mode, TargetKind, Urgency
    from consult.services import ConsultDraft, consult_request_create, consult_submit
    from server.accounts.models import User
    from server.directory.demo import demo_seed
    from server.directory.models import (
        Department,
        Patient,
        Practitioner,
        PractitionerRole,
        Role,
        Specialty,
        Title,
    )

    demo_seed()
    institution_code, department_name = SPECIALTY_DEPARTMENT
    department = Department.objects.select_related("institution").get(
        institution__code=institution_code, name=department_name
    )
    # Submitted before the queue fills, so the seed does not notify 200 people per consult;
    # the queue is read live, so the specialists added next can claim them.
    requester = User.objects.get(username=REQUESTER)
    patient = Patient.objects.filter(home_institution__code="dongba").order_by("pk").first()
    assert patient is not None
    consult_ids = []
    for i in range(CONSULTS):
        draft = ConsultDraft(
            patient_id=patient.pk,
            kind=Kind.IMAGING_READING,
            mode=Mode.OFFLINE,
            urgency=Urgency.ROUTINE,
            reason=f"Benchmark consult {i}",
            purpose="Benchmark",
            clinical_summary="Benchmark",
            wanted_specialty=Specialty.RADIOLOGY,
            minimum_title=Title.ATTENDING,
            target_kind=TargetKind.DEPARTMENT,
            target_department_id=department.pk,
            consent_signer="Benchmark",
            consent_relation=ConsentRelation.SELF,
            consent_method=ConsentMethod.VERBAL_WITNESSED,
        )
        consult = consult_request_create(actor_user=requester, draft=draft)
        consult_submit(consult_id=consult.pk, actor_user=requester)
        consult_ids.append(consult.pk)
    with transaction.atomic():
        # Unusable passwords: hashing 200 real ones would take minutes; sessions are made below.
        created = User.objects.bulk_create(
            [User(username=f"bench.{i:04d}", password="!") for i in range(users)]  # noqa: S106
        )
        practitioners = Practitioner.objects.bulk_create(
            [
                Practitioner(
                    user=user,
                    institution=department.institution,
                    department=department,
                    display_name=f"Bench {i}",
                    specialty=Specialty.RADIOLOGY,
                    title=Title.ATTENDING,
                    licence_number=f"BENCH-{i:04d}",
                    independent_practice_since=date(2010, 7, 1),
                )
                for i, user in enumerate(created)
            ]
        )
        PractitionerRole.objects.bulk_create(
            [PractitionerRole(practitioner=p, role=Role.SPECIALIST) for p in practitioners]
        )
    session_keys = []
    for user in created:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        assert session.session_key is not None
        session_keys.append(session.session_key)
    return Seeded(
        session_keys=[session_keys[i % users] for i in range(connections)],
        consult_ids=consult_ids,
        specialist_user_ids=[u.pk for u in created],
    )


# --- daphne processes -----------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@contextlib.contextmanager
def _daphnes(count: int, log_dir: Path, deadline: Deadline) -> Iterator[list[int]]:
    """Start `count` daphne processes on loopback ports; stop them on the way out."""
    env = {**os.environ, **_bench_env()}
    daphne = Path(sys.executable).parent / "daphne"
    started: list[tuple[subprocess.Popen[bytes], int, Path]] = []
    try:
        for i in range(count):
            port = _free_port()
            log_path = log_dir / f"daphne-{i}.log"
            with log_path.open("wb") as log:
                # Our own executable and arguments, no shell. A new session, so a Ctrl-C in the
                # terminal reaches only this script, which then stops them in order.
                process = subprocess.Popen(  # noqa: S603
                    [str(daphne), "-b", "127.0.0.1", "-p", str(port), "server.asgi:application"],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append((process, port, log_path))
        limit = min(DAPHNE_START_SECONDS, deadline.left())
        start = time.monotonic()
        for process, port, log_path in started:
            while not _healthy(port):
                if process.poll() is not None or time.monotonic() - start > limit:
                    raise RuntimeError(f"daphne did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.1)
        yield [port for _, port, _ in started]
    finally:
        for process, _, _ in started:
            if process.poll() is None:
                process.terminate()
        for process, _, _ in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- WebSocket clients ----------------------------------------------------------------------


@dataclass
class Expectation:
    """The event every socket waits for, and when each one got it."""

    consult_id: int
    status: str
    arrivals: dict[int, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Tally:
    connections: int
    expecting: Expectation | None = None
    duplicates: int = 0
    strays: int = 0
    first_messages: dict[int, asyncio.Future[None]] = field(default_factory=dict)

    def received(self, index: int, at: float, message: dict[str, Any]) -> None:
        future = self.first_messages.get(index)
        if future is not None and not future.done():
            future.set_result(None)
        if message.get("type") != "consult.worklist_changed":
            return  # unread counts and notifications also arrive on this socket
        expecting = self.expecting
        if (
            expecting is None
            or message.get("consult_id") != expecting.consult_id
            or message.get("status") != expecting.status
        ):
            self.strays += 1
            return
        if index in expecting.arrivals:
            self.duplicates += 1
            return
        expecting.arrivals[index] = at
        if len(expecting.arrivals) == self.connections:
            expecting.done.set()


class WebSocketError(Exception):
    pass


async def _socket_open(*, port: int, session_key: str) -> tuple[Any, Any]:
    """A minimal RFC 6455 client handshake on loopback; returns (reader, writer).

    Hand-rolled because autobahn's asyncio client cannot share the process with daphne's
    Twisted import (txaio allows one framework), and no other WebSocket client is installed.
    """
    key = base64.b64encode(os.urandom(16)).decode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            "GET /ws/events/ HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{port}\r\n"
            f"Cookie: sessionid={session_key}\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        writer.close()
        raise WebSocketError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    return reader, writer


async def _socket_read(*, reader: Any, writer: Any, index: int, tally: Tally) -> None:
    """Read server frames (unmasked) until the socket closes; hand each text message over."""
    fragments: list[bytes] = []
    while True:
        head = await reader.readexactly(2)
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(length)
        if opcode == 0x8:  # close
            return
        if opcode == 0x9:  # ping: answer with a masked pong
            mask = os.urandom(4)
            masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            writer.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
            continue
        if opcode in (0x0, 0x1):
            fragments.append(payload)
            if head[0] & 0x80:  # final fragment
                at = time.perf_counter()
                tally.received(index, at, json.loads(b"".join(fragments)))
                fragments = []


async def _connect_all(
    *, ports: list[int], session_keys: list[str], tally: Tally, deadline: Deadline
) -> list[tuple[Any, asyncio.Task[None]]]:
    """Open every socket (alternating daphnes) and wait for each one's first message."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    sockets: list[tuple[Any, asyncio.Task[None]]] = []

    async def connect(index: int, session_key: str) -> None:
        port = ports[index % len(ports)]
        tally.first_messages[index] = loop.create_future()
        async with gate:
            reader, writer = await _socket_open(port=port, session_key=session_key)
            task = asyncio.create_task(
                _socket_read(reader=reader, writer=writer, index=index, tally=tally)
            )
            sockets.append((writer, task))
            # The consumer joins the user's group before accepting and then sends the unread
            # count, so once that arrives the socket receives every later event.
            await tally.first_messages[index]

    await asyncio.wait_for(
        asyncio.gather(*(connect(i, key) for i, key in enumerate(session_keys))),
        timeout=max(deadline.left(), 1.0),
    )
    return sockets


# --- The changes ----------------------------------------------------------------------------


@dataclass
class Change:
    consult_id: int
    status: str
    commit_at: float  # perf_counter just before the commit
    service_ms: float  # the service call inside the transaction, before the commit
    publish_ms: float  # commit and the after-commit group_sends, until the last returned


class ConsultCycler:
    """Alternates each consult between claimed (assigned) and declined: both reach the queue."""

    def __init__(self, consult_ids: list[int], specialist_user_ids: list[int]) -> None:
        self.consult_ids = consult_ids
        self.specialist_user_ids = specialist_user_ids
        self.lead: dict[int, int] = {}  # consult id -> user id of its current lead
        self.turn = 0
        self.claims = 0

    def next_move(self) -> tuple[int, str]:
        consult_id = self.consult_ids[self.turn % len(self.consult_ids)]
        self.turn += 1
        return consult_id, "declined" if consult_id in self.lead else "assigned"

    def run(self, consult_id: int) -> Change:
        """Make the move in its own transaction, noting the time just before the commit."""
        from django.db import transaction

        from consult.models import DeclineCode
        from consult.services import consult_claim, consult_decline
        from server.accounts.models import User

        started = time.perf_counter()
        with transaction.atomic():
            lead = self.lead.pop(consult_id, None)
            if lead is None:
                user_id = self.specialist_user_ids[self.claims % len(self.specialist_user_ids)]
                self.claims += 1
                consult = consult_claim(
                    consult_id=consult_id, actor_user=User.objects.get(pk=user_id)
                )
                self.lead[consult_id] = user_id
            else:
                consult = consult_decline(
                    consult_id=consult_id,
                    actor_user=User.objects.get(pk=lead),
                    reason_code=DeclineCode.UNAVAILABLE,
                    reason="Benchmark",
                )
            commit_at = time.perf_counter()
        published_at = time.perf_counter()  # on_commit callbacks ran when the block exited
        return Change(
            consult_id=consult_id,
            status=consult.status,
            commit_at=commit_at,
            service_ms=(commit_at - started) * 1000,
            publish_ms=(published_at - commit_at) * 1000,
        )


@dataclass
class Results:
    latencies_ms: list[float] = field(default_factory=list)  # one per socket and change
    fanout_ms: list[float] = field(default_factory=list)  # per change: the last socket's
    service_ms: list[float] = field(default_factory=list)
    publish_ms: list[float] = field(default_factory=list)
    lost: int = 0
    changes: int = 0
    stopped_early: bool = False
    wall_seconds: float = 0.0


async def _run_changes(
    *,
    cycler: ConsultCycler,
    tally: Tally,
    count: int,
    publisher: str,
    results: Results | None,
    deadline: Deadline,
) -> None:
    from asgiref.sync import sync_to_async

    loop = asyncio.get_running_loop()
    run_asgi = sync_to_async(cycler.run, thread_sensitive=True)
    for _ in range(count):
        if deadline.left() <= EVENT_WAIT_SECONDS:
            # Bounded in time: report what was measured rather than nothing.
            if results is not None:
                results.stopped_early = True
            return
        consult_id, status = cycler.next_move()
        expecting = Expectation(consult_id=consult_id, status=status)
        tally.expecting = expecting
        if publisher == "asgi":
            # Like an API view under daphne: the service runs in the sync thread, and the
            # after-commit group_send hops back onto this process's event loop.
            change = await run_asgi(consult_id)
        else:
            # Like a Celery worker: no event loop in the thread, so each group_send gets one.
            change = await loop.run_in_executor(None, cycler.run, consult_id)
        assert change.status == status, (change.status, status)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                expecting.done.wait(), timeout=min(EVENT_WAIT_SECONDS, max(deadline.left(), 0.1))
            )
        tally.expecting = None
        if results is None:
            continue
        latencies = [(at - change.commit_at) * 1000 for at in expecting.arrivals.values()]
        results.latencies_ms.extend(latencies)
        results.lost += tally.connections - len(latencies)
        if latencies:
            results.fanout_ms.append(max(latencies))
        results.service_ms.append(change.service_ms)
        results.publish_ms.append(change.publish_ms)
        results.changes += 1


# --- Report ---------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def _summary(values: list[float]) -> str:
    return (
        f"p50 {_percentile(values, 50):7.1f}  p95 {_percentile(values, 95):7.1f}  "
        f"p99 {_percentile(values, 99):7.1f}  max {max(values, default=float('nan')):7.1f} ms"
    )


def _report(args: argparse.Namespace, results: Results, tally: Tally) -> dict[str, Any]:
    lat = results.latencies_ms
    p99 = _percentile(lat, 99)
    _out()
    _out(
        f"{results.changes} changes x {args.connections} sockets "
        f"({args.users} users, 2 daphne, Redis layer, publisher={args.publisher}) "
        f"in {results.wall_seconds:.1f} s"
    )
    _out(f"  commit -> event at each socket: {_summary(lat)}  (n={len(lat)})")
    _out(f"  commit -> last socket (fan-out): {_summary(results.fanout_ms)}")
    _out(f"  service call before commit:      {_summary(results.service_ms)}")
    _out(f"  commit + every group_send:       {_summary(results.publish_ms)}")
    if results.stopped_early:
        _out(f"  stopped early: out of time after {results.changes} of {args.changes} changes")
    _out(
        f"  lost {results.lost}, duplicates {tally.duplicates}, "
        f"unmatched worklist events {tally.strays}"
    )
    verdict = "meets" if p99 < TARGET_P99_MS else "MISSES"
    _out(f"  p99 {p99:.1f} ms {verdict} the {TARGET_P99_MS:.0f} ms target")
    return {
        "bench": "consult_worklist",
        "connections": args.connections,
        "changes": results.changes,
        "p50_ms": round(_percentile(lat, 50), 1),
        "p95_ms": round(_percentile(lat, 95), 1),
        "p99_ms": round(p99, 1),
        "max_ms": round(max(lat, default=float("nan")), 1),
        "target_p99_ms": TARGET_P99_MS,
        "ratio_p99_to_target": round(p99 / TARGET_P99_MS, 2),
        "lost": results.lost,
    }


# --- Main -----------------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=200, help="sockets (default 200)")
    parser.add_argument("--changes", type=int, default=100, help="measured changes (default 100)")
    parser.add_argument(
        "--users",
        type=int,
        default=None,
        help="specialists the sockets are spread over (default: one per socket)",
    )
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured changes first")
    parser.add_argument(
        "--publisher",
        choices=["asgi", "worker"],
        default="asgi",
        help="asgi: publish from a sync thread under an event loop, as an API view under "
        "daphne does (default); worker: from a thread with no loop, as a Celery task does",
    )
    args = parser.parse_args(argv)
    args.users = args.users or args.connections
    if not 1 <= args.users <= args.connections:
        parser.error("--users must be between 1 and --connections")
    if args.changes < 1:
        parser.error("--changes must be at least 1")
    return args


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


async def _measure(args: argparse.Namespace, ports: list[int], seeded: Seeded) -> dict[str, Any]:
    deadline = _deadline
    tally = Tally(connections=args.connections)
    _out(f"Opening {args.connections} sockets over {len(ports)} daphne processes ...")
    sockets = await _connect_all(
        ports=ports, session_keys=seeded.session_keys, tally=tally, deadline=deadline
    )
    try:
        cycler = ConsultCycler(seeded.consult_ids, seeded.specialist_user_ids)
        common: dict[str, Any] = {
            "cycler": cycler,
            "tally": tally,
            "publisher": args.publisher,
            "deadline": deadline,
        }
        await _run_changes(count=args.warmup, results=None, **common)
        tally.duplicates = tally.strays = 0
        _out(f"Measuring {args.changes} status changes ...")
        results = Results()
        started = time.monotonic()
        await _run_changes(count=args.changes, results=results, **common)
        results.wall_seconds = time.monotonic() - started
        return _report(args, results, tally)
    finally:
        for writer, task in sockets:
            task.cancel()
            writer.close()


_deadline = Deadline(RUN_SECONDS)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # Plain handlers, not asyncio's: its SIGINT handler only cancels the main task, which can
    # wait on the sync thread; raising here unwinds at once through the cleanup below.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return _run(args)
    except KeyboardInterrupt:
        sys.stderr.write("consult_worklist: interrupted; daphne stopped, bench keys removed\n")
        return 130


def _run(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.update(_bench_env())

    started = time.monotonic()
    _out(f"Load average before the run: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    _out(f"Recreating database {DATABASE} ...")
    _database_recreate()
    _redis_clear()
    import django
    from django.core.management import call_command

    django.setup()
    # The services log every transition at INFO; the report is what this script prints.
    logging.getLogger().setLevel(logging.WARNING)
    for name in logging.root.manager.loggerDict:
        logging.getLogger(name).setLevel(logging.WARNING)
    call_command("migrate", verbosity=0, interactive=False)
    _out(f"  migrated in {time.monotonic() - started:.1f} s")
    _out(f"Seeding {args.users} specialists in one department queue, {CONSULTS} consults ...")
    seeded = _seed(connections=args.connections, users=args.users)
    _out(f"  seeded at {time.monotonic() - started:.1f} s")
    from django.db import connections

    connections.close_all()  # the async part opens its own, in the sync thread

    with tempfile.TemporaryDirectory(prefix="bench-daphne-") as tmp:
        try:
            with _daphnes(2, Path(tmp), _deadline) as ports:
                summary = asyncio.run(_measure(args, ports, seeded))
        finally:
            _redis_clear()
    _out(json.dumps(summary))
    return 0 if summary["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
