"""Time to the first image of a chest radiograph in the viewer, over a township clinic's link.

Run as root from the repository root (network namespaces and tc need it), after
`cd frontend && npm run build`:

    .venv/bin/python bench/first_image.py              # 3 cold-cache and 3 warm-cache loads
    .venv/bin/python bench/first_image.py --runs 5

Yunzhen runs as in production: daphne with DEBUG=0 on PostgreSQL (database
`yunzhen_bench_first_image`, recreated each run) and Redis, static files collected and served
by WhiteNoise. The chest CR is pydicom-data's RG1_UNCR.dcm (1955 x 1841, 15 bits, 7.2 MB),
ingested through the one ingest service with its preview and lossy copy rendered before timing.

The link: two network namespaces joined by a veth pair, the server end (`yzfi-server`) and the
browser end (`yzfi-client`), each end shaped by `tc tbf` to 300 kbit/s. This kernel has no
netem, so the 300 ms round trip is added by a small asyncio TCP relay in the server namespace
(150 ms each way, and one extra round trip before a new connection's first request, which the
kernel's own handshake does not pay on the veth). The relay forwards to daphne's Unix socket in
the root namespace, where PostgreSQL and Redis live. Debian's Chromium, headless, runs in the
client namespace through Playwright; it signs in, then opens the viewer page of the study:

- cold: the browser cache is emptied before each load (a first visit);
- warm: the page was opened once before, so the app's hashed scripts are in the cache (a
  clinician who uses the app daily).

Each load starts on new connections. The page's own timeline gives the time from navigation to
the preview drawn (the preview image's load, then the next frame) and to the first diagnostic
image drawn (the viewer's `data-quality="diagnostic"`, then the next frame); Chrome DevTools
Protocol network events give the bytes received. Medians are printed with the targets
(preview <= 3 s and diagnostic <= 25 s, judged on warm loads; diagnostic <= 25 s judged on cold
loads too) and the last line of output is one JSON object.
"""

# A command-line bench: it prints its figures and runs fixed local tools (ip, tc, curl).
# ruff: noqa: T201, S603, S607

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATABASE = "yunzhen_bench_first_image"
POSTGRES = "postgres://postgres@127.0.0.1:5432"
# A Redis database and channel prefix of its own; keys this run creates are deleted on exit.
REDIS_URL = "redis://127.0.0.1:6379/12"
CHANNEL_PREFIX = "yunzhen-bench-first-image"
SERVER_NS = "yzfi-server"
CLIENT_NS = "yzfi-client"
SERVER_VETH = "yzfi-s"
CLIENT_VETH = "yzfi-c"
SERVER_IP = "10.77.0.1"
CLIENT_IP = "10.77.0.2"
RELAY_PORT = 8000
RATE = "300kbit"
# Token bucket of 4 kB (about 0.1 s of the link at line rate) and up to 500 ms of queue, like
# a small DSL or 3G modem buffer; `tc` rounds both to its own units.
BURST = "4kb"
QUEUE_LATENCY = "500ms"
ONE_WAY_SECONDS = 0.150
CHEST_CR = "RG1_UNCR.dcm"
CARD = "BENCH-CR-0001"
USERNAME = "bench-clinic"
PASSWORD = uuid.uuid4().hex
START_SECONDS = 60
LOAD_TIMEOUT_SECONDS = 400
TARGET_PREVIEW_S = 3.0
TARGET_DIAGNOSTIC_S = 25.0
CHROMIUM = "/usr/bin/chromium"

# Installed before any page script: timestamps (ms since navigation start) of the preview
# image loaded and of the viewer declaring its first diagnostic image, each taken at the next
# animation frame, when it is on screen.
MARKS_SCRIPT = """
(() => {
  const marks = (window.__yzFirstImage = {});
  const atNextFrame = (name) => requestAnimationFrame(() => requestAnimationFrame(() => {
    marks[name] ??= performance.now();
  }));
  document.addEventListener("load", (event) => {
    const target = event.target;
    if (target instanceof HTMLImageElement && target.classList.contains("viewer-preview")) {
      atNextFrame("preview");
    }
  }, true);
  new MutationObserver(() => {
    const viewer = document.getElementById("viewer");
    if (viewer?.dataset.quality === "diagnostic") atNextFrame("diagnostic");
    if (viewer?.dataset.error) marks.error ??= viewer.dataset.error;
  }).observe(document, {
    subtree: true, attributes: true, attributeFilter: ["data-quality", "data-error"],
  });
})();
"""


# --- The relay: runs in the server namespace ---------------------------------------------------


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    delay: float,
    not_before: float,
) -> None:
    """Copy one direction, each chunk leaving `delay` after it arrived (and not before
    `not_before`), in order; the link's rate is left to the shaper."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        while True:
            data = await reader.read(65536)
            await queue.put((max(loop.time() + delay, not_before), data))
            if not data:
                return

    async def write() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    await asyncio.gather(read(), write())


async def relay_serve(listen: tuple[str, int], upstream: str, one_way: float) -> None:
    """Forward TCP connections to a Unix socket, adding `one_way` seconds each way.

    SIGUSR1 closes every open connection, so the next page load starts on new ones.
    """
    loop = asyncio.get_running_loop()
    open_writers: set[asyncio.StreamWriter] = set()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        # The kernel answered the handshake at once; the request waits the round trip it saved.
        not_before = loop.time() + 3 * one_way
        try:
            server_r, server_w = await asyncio.open_unix_connection(upstream)
        except OSError:
            client_w.close()
            return
        open_writers.update((client_w, server_w))
        try:
            await asyncio.gather(
                _pump(client_r, server_w, delay=one_way, not_before=not_before),
                _pump(server_r, client_w, delay=one_way, not_before=0.0),
            )
        except (ConnectionError, OSError):
            pass
        finally:
            for w in (client_w, server_w):
                open_writers.discard(w)
                w.close()

    def close_all() -> None:
        for w in list(open_writers):
            w.transport.abort()
        open_writers.clear()

    loop.add_signal_handler(signal.SIGUSR1, close_all)
    server = await asyncio.start_server(handle, *listen)
    async with server:
        await server.serve_forever()


# --- The browser: runs in the client namespace -------------------------------------------------


def _load(page: Any, cdp: Any, url: str) -> dict[str, Any]:
    """One timed page load; the marks, bytes and requests of it."""
    received: dict[str, int] = {}
    urls: dict[str, str] = {}

    def on_request(event: dict[str, Any]) -> None:
        urls[event["requestId"]] = event["request"]["url"]

    def on_finished(event: dict[str, Any]) -> None:
        received[event["requestId"]] = int(event["encodedDataLength"])

    def on_response(event: dict[str, Any]) -> None:
        response = event["response"]
        if response["status"] >= 400 and (
            "/static/" in response["url"] or "/dicomweb/" in response["url"]
        ):
            failed.append(f"{response['status']} {response['url']}")

    failed: list[str] = []
    cdp.on("Network.requestWillBeSent", on_request)
    cdp.on("Network.loadingFinished", on_finished)
    cdp.on("Network.responseReceived", on_response)
    page.goto(url, wait_until="commit")
    deadline = time.monotonic() + LOAD_TIMEOUT_SECONDS
    while True:
        marks = page.evaluate("() => window.__yzFirstImage ?? {}")
        if "diagnostic" in marks or "error" in marks:
            break
        if failed or time.monotonic() > deadline:
            # A 404 for a script usually means frontend/dist was rebuilt after collectstatic.
            raise RuntimeError(f"the viewer did not show its image; failed requests: {failed}")
        page.wait_for_timeout(100)
    cdp.remove_listener("Network.responseReceived", on_response)
    cdp.remove_listener("Network.requestWillBeSent", on_request)
    cdp.remove_listener("Network.loadingFinished", on_finished)
    by_path: dict[str, int] = {}
    for request_id, size in received.items():
        path = urls.get(request_id, "?").split("://", 1)[-1].split("/", 1)[-1]
        by_path["/" + path] = by_path.get("/" + path, 0) + size
    return {
        "preview_s": marks.get("preview", float("nan")) / 1000,
        "diagnostic_s": marks.get("diagnostic", float("nan")) / 1000,
        "error": marks.get("error"),
        "bytes": sum(received.values()),
        "requests": by_path,
    }


def client_main(job: dict[str, Any]) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(REPO))
    from tests.lib.browser import CHROMIUM_ARGS

    def reset_connections() -> None:
        os.kill(job["relay_pid"], signal.SIGUSR1)
        time.sleep(0.2)  # let the aborts reach this namespace before the next navigation

    results: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for mode in ("cold", "warm"):
            context = browser.new_context(
                locale="zh-CN", base_url=job["base"], viewport={"width": 1280, "height": 800}
            )
            context.add_init_script(MARKS_SCRIPT)
            page = context.new_page()
            page.set_default_timeout(LOAD_TIMEOUT_SECONDS * 1000)
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            page.goto("/")
            page.locator("#id_username").fill(job["username"])
            page.locator("#id_password").fill(job["password"])
            page.locator("form.form button[type=submit]").click()
            page.wait_for_selector("#id_username", state="detached")
            if mode == "warm":
                reset_connections()
                primed = _load(page, cdp, job["viewer"])
                print(f"  warm-up load: {json.dumps(primed)[:200]}", file=sys.stderr)
            for run in range(job["runs"]):
                if mode == "cold":
                    cdp.send("Network.clearBrowserCache")
                page.goto("about:blank")
                reset_connections()
                result = _load(page, cdp, job["viewer"])
                print(
                    f"  {mode} {run + 1}: preview {result['preview_s']:.2f} s, diagnostic "
                    f"{result['diagnostic_s']:.2f} s, {result['bytes'] / 1000:.0f} kB",
                    file=sys.stderr,
                    flush=True,
                )
                results[mode].append(result)
            context.close()
        browser.close()
    return results


# --- Setup in the root namespace ---------------------------------------------------------------


def _netns(namespace: str, command: list[str]) -> list[str]:
    return ["ip", "netns", "exec", namespace, *command]


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


class Bench:
    """Owns the database, processes and namespaces; `close` undoes all of it in reverse."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stack = contextlib.ExitStack()
        self.socket_path = root / "daphne.sock"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def close(self) -> None:
        self.stack.close()

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "server.settings",
            "DJANGO_ENV": "development",
            "DEBUG": "0",
            "SECRET_KEY": "bench-" + "k" * 50,
            "DATABASE_URL": f"{POSTGRES}/{DATABASE}",
            "REDIS_URL": REDIS_URL,
            "CHANNEL_LAYER_PREFIX": CHANNEL_PREFIX,
            "ALLOWED_HOSTS": f"{SERVER_IP},127.0.0.1",
            "MEDIA_ROOT": str(self.root / "media"),
            "YUNZHEN_VAR_DIR": str(self.root / "var"),
        }

    def process(self, name: str, command: list[str], ready: Callable[[], bool]) -> None:
        log = (self.root / f"{name}.log").open("wb")
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def stop() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.close()

        self.stack.callback(stop)
        self.processes[name] = process
        deadline = time.monotonic() + START_SECONDS
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                text = (self.root / f"{name}.log").read_text(errors="replace")
                raise RuntimeError(f"{name} did not start:\n{text[-3000:]}")
            time.sleep(0.1)

    def database(self) -> None:
        import psycopg

        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        self.stack.callback(self.database_drop)
        os.environ.update(self.env())
        import redis

        broker = redis.Redis.from_url(REDIS_URL)
        keys_before = set(broker.keys("*"))
        self.stack.callback(lambda: [broker.delete(k) for k in set(broker.keys("*")) - keys_before])
        import django

        sys.path.insert(0, str(REPO))
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        # Production's storage (CompressedStaticFilesStorage) writes these .gz files; the
        # development settings this bench needs for plain-HTTP cookies do not.
        from django.conf import settings

        _run([sys.executable, "-m", "whitenoise.compress", "-q", str(settings.STATIC_ROOT)])

    @staticmethod
    def database_drop() -> None:
        import psycopg
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')

    def daphne(self) -> None:
        port = _free_port()
        daphne = str(Path(sys.executable).parent / "daphne")
        command = [daphne, "-u", str(self.socket_path), "-b", "127.0.0.1", "-p", str(port)]
        self.process(
            "daphne",
            [*command, "server.asgi:application"],
            lambda: _http_status(f"http://127.0.0.1:{port}/healthz") == 200,
        )

    def link(self) -> None:
        for namespace in (SERVER_NS, CLIENT_NS):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
            _run(["ip", "netns", "add", namespace])
            self.stack.callback(
                subprocess.run, ["ip", "netns", "del", namespace], capture_output=True, check=False
            )
        _run(
            [
                "ip",
                "link",
                "add",
                SERVER_VETH,
                "netns",
                SERVER_NS,
                "type",
                "veth",
                "peer",
                "name",
                CLIENT_VETH,
                "netns",
                CLIENT_NS,
            ]
        )
        for namespace, device, address in (
            (SERVER_NS, SERVER_VETH, SERVER_IP),
            (CLIENT_NS, CLIENT_VETH, CLIENT_IP),
        ):
            _run(_netns(namespace, ["ip", "link", "set", "lo", "up"]))
            _run(_netns(namespace, ["ip", "addr", "add", f"{address}/30", "dev", device]))
            _run(_netns(namespace, ["ip", "link", "set", device, "up"]))
            _run(
                _netns(
                    namespace,
                    [
                        "tc",
                        "qdisc",
                        "add",
                        "dev",
                        device,
                        "root",
                        "tbf",
                        "rate",
                        RATE,
                        "burst",
                        BURST,
                        "latency",
                        QUEUE_LATENCY,
                    ],
                )
            )

    def relay(self) -> None:
        command = _netns(
            SERVER_NS,
            [sys.executable, str(Path(__file__).resolve()), "relay", str(self.socket_path)],
        )
        probe = _netns(
            CLIENT_NS,
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-m",
                "5",
                f"http://{SERVER_IP}:{RELAY_PORT}/healthz",
            ],
        )
        self.process(
            "relay",
            command,
            lambda: subprocess.run(probe, capture_output=True, check=False).returncode == 0,
        )

    def qdisc_stats(self) -> str:
        done = subprocess.run(
            _netns(SERVER_NS, ["tc", "-s", "qdisc", "show", "dev", SERVER_VETH]),
            capture_output=True,
            text=True,
            check=False,
        )
        return " ".join(done.stdout.split())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _http_status(url: str) -> int:
    import requests

    try:
        return requests.get(url, timeout=1).status_code
    except requests.RequestException:
        return 0


def _seed() -> dict[str, Any]:
    """A township clinic doctor and the chest CR of a patient of theirs, rendered."""
    from django.core.files.storage import default_storage
    from pydicom.data import get_testdata_file

    from imaging.models import IngestSource, Instance, Series
    from imaging.services import (
        instance_ingest,
        instance_lossy_frame_render,
        series_previews_render,
    )
    from server.accounts.models import User
    from server.directory.models import (
        Consortium,
        Institution,
        InstitutionLevel,
        Patient,
        Practitioner,
        PractitionerRole,
        Role,
        Sex,
        Specialty,
    )

    consortium = Consortium.objects.create(code="bench", name="基准医共体")
    township = Institution.objects.create(
        consortium=consortium,
        code="bench-township",
        name="基准卫生院",
        level=InstitutionLevel.TOWNSHIP,
    )
    user = User.objects.create_user(username=USERNAME, password=PASSWORD)
    practitioner = Practitioner.objects.create(
        user=user,
        institution=township,
        display_name="基准医生",
        specialty=Specialty.GENERAL_PRACTICE,
        independent_practice_since=date(2015, 7, 1),
    )
    PractitionerRole.objects.create(practitioner=practitioner, role=Role.CLINIC_DOCTOR)
    Patient.objects.create(
        consortium=consortium,
        home_institution=township,
        name="基准患者",
        sex=Sex.FEMALE,
        birth_date=date(1960, 3, 1),
        health_card_number=CARD,
    )
    path = get_testdata_file(CHEST_CR, download=False)
    if path is None:
        sys.exit(f"{CHEST_CR} is missing: install pydicom-data.")
    import pydicom

    ds = pydicom.dcmread(path)
    ds.PatientID = CARD
    out = Path(tempfile.mkstemp(suffix=".dcm")[1])
    ds.save_as(out, enforce_file_format=True)
    data = out.read_bytes()
    out.unlink()
    result = instance_ingest(data=data, source=IngestSource.STOW, institution=township, user=user)
    if not result.ok:
        raise RuntimeError(f"ingest failed: {result.message}")
    instance = Instance.objects.get(sop_instance_uid=result.sop_instance_uid)
    series_previews_render(series_id=instance.series_id)
    instance_lossy_frame_render(instance_id=instance.pk)
    instance.refresh_from_db()
    series = Series.objects.get(pk=instance.series_id)
    return {
        "study_uid": result.study_instance_uid,
        "stored_bytes": instance.size_bytes,
        "preview_bytes": default_storage.size(series.preview_name),
        "lossy_bytes": default_storage.size(instance.lossy_frame_name)
        if instance.lossy_frame_name
        else 0,
        "lossy_ratio": instance.lossy_frame_ratio,
    }


def _viewer_bundle() -> dict[str, int]:
    """Sizes of the viewer's JavaScript (Cornerstone), raw and gzipped as WhiteNoise serves
    it, and of what the first image needs on a slow link without it (`first_gzip`: the page's
    small entry, its decoding worker and the JPEG 2000 WASM, frontend/src/viewer/first.ts)."""
    from django.conf import settings

    manifest = json.loads((Path(settings.FRONTEND_DIST) / ".vite" / "manifest.json").read_text())

    def chunk_files(key: str) -> list[str]:
        chunk = manifest[key]
        return [chunk["file"], *(f for i in chunk.get("imports", []) for f in chunk_files(i))]

    # The entry, then the viewer it imports once the preview is shown (not the shared review).
    files = list(
        dict.fromkeys(chunk_files("src/viewer/main.ts") + chunk_files("src/viewer/viewer.ts"))
    )
    static = Path(settings.STATIC_ROOT)
    raw = sum((static / f).stat().st_size for f in files)
    gzipped = sum((static / f"{f}.gz").stat().st_size for f in files)
    # The tools come after the first image (src/viewer/tools.ts), when the build splits them.
    tools = manifest.get("src/viewer/tools.ts", {}).get("file")
    after = (static / f"{tools}.gz").stat().st_size if tools else 0
    entry = static / manifest["src/viewer/main.ts"]["file"]
    first = [
        entry,
        *(static / "assets").glob("firstDecode.worker-*.js"),
        *(static / "assets").glob("openjpegwasm_decode-*.wasm"),
    ]
    first_gzip = sum((p.parent / f"{p.name}.gz").stat().st_size for p in first)
    return {
        "files": len(files),
        "raw": raw,
        "gzip": gzipped,
        "tools_gzip": after,
        "first_gzip": first_gzip,
    }


def _median(values: list[float]) -> float:
    clean = [v for v in values if v == v]
    return statistics.median(clean) if clean else float("nan")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _missing_tools() -> list[str]:
    problems = []
    if os.geteuid() != 0:
        problems.append("run as root: network namespaces and tc need it")
    for tool, package in (("ip", "iproute2"), ("tc", "iproute2"), ("curl", "curl")):
        if shutil.which(tool) is None:
            problems.append(f"install {tool}: apt-get install -y {package}")
    if not Path(CHROMIUM).exists():
        problems.append("install Chromium: apt-get install -y chromium")
    if not (REPO / "frontend" / "dist" / ".vite" / "manifest.json").exists():
        problems.append("build the frontend: cd frontend && npm run build")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed loads per cache state")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    problems = _missing_tools()
    if problems:
        for problem in problems:
            print(f"first_image: {problem}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    root = Path(tempfile.mkdtemp(prefix="yz-bench-first-image-"))
    bench = Bench(root)
    began = time.perf_counter()
    try:
        print(f"setting up in {root} ...", flush=True)
        bench.database()
        seeded = _seed()
        bundle = _viewer_bundle()
        bench.daphne()
        bench.link()
        bench.relay()
        print(
            f"chest CR stored {seeded['stored_bytes'] / 1e6:.1f} MB; preview "
            f"{seeded['preview_bytes'] / 1000:.0f} kB; lossy copy "
            f"{seeded['lossy_bytes'] / 1000:.0f} kB ({seeded['lossy_ratio']}:1); "
            f"viewer JavaScript {bundle['files']} files, "
            f"{bundle['raw'] / 1e6:.2f} MB raw, {bundle['gzip'] / 1e6:.2f} MB gzip, "
            f"{bundle['tools_gzip'] / 1e6:.2f} MB gzip of tools after it; on a slow link the "
            f"first image needs {bundle['first_gzip'] / 1e3:.0f} kB gzip of it (Chromium "
            "asks for brotli only over HTTPS)",
            flush=True,
        )
        print(
            f"link: {RATE} tbf burst {BURST} latency {QUEUE_LATENCY} on both veth ends, "
            f"{2 * ONE_WAY_SECONDS * 1000:.0f} ms round trip in the relay; {os.cpu_count()} CPUs; "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        job = {
            "base": f"http://{SERVER_IP}:{RELAY_PORT}",
            "viewer": f"/imaging/studies/{seeded['study_uid']}/view/",
            "username": USERNAME,
            "password": PASSWORD,
            "runs": args.runs,
            "relay_pid": bench.processes["relay"].pid,
        }
        done = subprocess.run(
            _netns(CLIENT_NS, [sys.executable, str(Path(__file__).resolve()), "client"]),
            input=json.dumps(job),
            stdout=subprocess.PIPE,
            text=True,
            check=False,
            cwd=REPO,
        )
        if done.returncode != 0:
            raise RuntimeError("the browser client failed (its output is above)")
        results: dict[str, list[dict[str, Any]]] = json.loads(done.stdout.strip().splitlines()[-1])
        shaping = bench.qdisc_stats()
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        bench.close()
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"server-side shaper: {shaping}")
    figures: dict[str, dict[str, Any]] = {}
    for mode in ("cold", "warm"):
        runs = results[mode]
        figures[mode] = {
            "preview_s": round(_median([r["preview_s"] for r in runs]), 2),
            "diagnostic_s": round(_median([r["diagnostic_s"] for r in runs]), 2),
            "kb": round(_median([r["bytes"] for r in runs]) / 1000, 1),
            "errors": [r["error"] for r in runs if r["error"]],
        }
        largest = sorted(runs[-1]["requests"].items(), key=lambda item: -item[1])[:6]
        print(
            f"{mode} cache, last load, largest transfers: "
            + ", ".join(f"{path[:60]} {size / 1000:.0f} kB" for path, size in largest)
        )
    for mode in ("cold", "warm"):
        f = figures[mode]
        for name, target in (("preview", TARGET_PREVIEW_S), ("diagnostic", TARGET_DIAGNOSTIC_S)):
            judged = " (judged)" if mode == "warm" or name == "diagnostic" else ""
            value = f[f"{name}_s"]
            verdict = "PASS" if value <= target else "FAIL"
            print(
                f"{mode:4s} {name:10s} median {value:6.2f} s  target <= {target:g} s  "
                f"ratio {value / target:5.2f}  {verdict}{judged}"
            )
        print(f"{mode:4s} received   median {f['kb']:.0f} kB per load")
    summary = {
        "bench": "first_image",
        "runs": args.runs,
        "link": {"rate": RATE, "rtt_ms": 2 * ONE_WAY_SECONDS * 1000, "burst": BURST},
        "stored_kb": round(seeded["stored_bytes"] / 1000),
        "preview_kb": round(seeded["preview_bytes"] / 1000, 1),
        "lossy_kb": round(seeded["lossy_bytes"] / 1000, 1),
        "viewer_js_kb": {k: round(v / 1000) for k, v in bundle.items() if k != "files"},
        "cold": figures["cold"],
        "warm": figures["warm"],
        "target_preview_s": TARGET_PREVIEW_S,
        "target_diagnostic_s": TARGET_DIAGNOSTIC_S,
        "ratio_preview_warm": round(figures["warm"]["preview_s"] / TARGET_PREVIEW_S, 2),
        "ratio_diagnostic_warm": round(figures["warm"]["diagnostic_s"] / TARGET_DIAGNOSTIC_S, 2),
        "ratio_diagnostic_cold": round(figures["cold"]["diagnostic_s"] / TARGET_DIAGNOSTIC_S, 2),
        "seconds": round(time.perf_counter() - began),
    }
    print(json.dumps(summary, ensure_ascii=False))
    warm = figures["warm"]
    passed = (
        warm["preview_s"] <= TARGET_PREVIEW_S
        and warm["diagnostic_s"] <= TARGET_DIAGNOSTIC_S
        and figures["cold"]["diagnostic_s"] <= TARGET_DIAGNOSTIC_S
    )
    return 0 if passed else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["relay"]:
        asyncio.run(relay_serve((SERVER_IP, RELAY_PORT), sys.argv[2], ONE_WAY_SECONDS))
    elif sys.argv[1:] == ["client"]:
        print(json.dumps(client_main(json.loads(sys.stdin.read()))))
    else:
        sys.exit(main())
