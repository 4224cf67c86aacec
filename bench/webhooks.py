"""Webhook acknowledgement under load: signed WhatsApp webhooks against the real API, next to a bare
Litestar route that only answers 200, both served by uvicorn with the same settings.

Run: uv run python bench/webhooks.py [--seconds 15] [--rate 500]

What it does, all on this machine (loopback only):
1. starts an embedded PostgreSQL (pgserver), migrates it, creates a tenant with one WhatsApp channel;
2. starts the API (`create_app` + uvicorn, 1 process) and the bare route (uvicorn, 1 process);
3. from a third process, a raw-asyncio HTTP/1.1 load generator sends pre-signed webhooks (one text
   message each, 1 in 20 a re-post of an earlier one, as Meta's redeliveries are):
   - closed loop with 64 keep-alive connections: the most each server acknowledges per second;
   - open loop at --rate req/s: latency from the scheduled send time (no coordinated omission);
4. checks the inbox afterwards: every acknowledged event is stored exactly once.

No worker runs: queued inbox.process tasks stay in the outbox, as they would while the worker is busy.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
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
from pathlib import Path
from typing import Any

APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "106540352242922"
CONNECTIONS = 64
REPOST_EVERY = 20


# --- servers (run as subprocesses) -------------------------------------------------------------


def api_app() -> Any:
    from entrypoints.http.app import create_app
    from entrypoints.ioc.containers import make_http_container
    from entrypoints.settings import Settings

    settings = Settings.from_env()
    return create_app(make_http_container(settings), settings)


def bare_app() -> Any:
    from litestar import Litestar, post

    @post("/webhooks/whatsapp", status_code=200)
    async def acknowledge() -> None:
        return None

    return Litestar(route_handlers=[acknowledge], debug=False)


def serve(factory: str, port: int, workers: int) -> None:
    import uvicorn

    # The same server settings for both apps; each worker process builds its own app.
    uvicorn.run(
        f"webhooks:{factory}",
        factory=True,
        app_dir=str(Path(__file__).parent),
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


# --- load generator (runs as a subprocess) -----------------------------------------------------


def _signed_requests(port: int, run: str, count: int) -> list[tuple[str, bytes]]:
    """(event key, raw HTTP request) pairs; every REPOST_EVERY-th repeats an earlier body byte for byte."""
    requests: list[tuple[str, bytes]] = []
    for index in range(count):
        if index and index % REPOST_EVERY == 0:
            requests.append(requests[index // 2])
            continue
        wamid = f"wamid.bench.{run}.{index}"
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                                "contacts": [{"profile": {"name": "Zoë"}, "wa_id": f"1650555{index % 5000:04d}"}],
                                "messages": [
                                    {
                                        "from": f"1650555{index % 5000:04d}",
                                        "id": wamid,
                                        "timestamp": str(int(time.time())),
                                        "type": "text",
                                        "text": {"body": f"Hello, I would like to know about order #{index} — café ☕"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
        body = json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()
        digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        head = (
            f"POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"X-Hub-Signature-256: sha256={digest}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        requests.append((f"message:{wamid}", head.encode() + body))
    return requests


async def _read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    length = next((int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:")), 0)
    if length:
        await reader.readexactly(length)
    return status


async def _load(port: int, mode: str, seconds: float, rate: float, run: str) -> dict[str, Any]:
    # Closed loop cycles through the bodies once they are used up: every further round is re-posts.
    count = int(rate * seconds * 1.1) + 10 if mode == "open" else 60_000
    requests = _signed_requests(port, run, count)
    latencies: list[float] = []
    acknowledged: set[str] = set()
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    started = time.perf_counter()
    deadline = started + seconds
    sent = 0

    async def connection() -> None:
        nonlocal sent
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                if mode == "open":
                    item = await queue.get()
                    if item is None:
                        return
                    index, scheduled = item
                else:
                    if time.perf_counter() >= deadline:
                        return
                    index, scheduled = sent % len(requests), time.perf_counter()
                    sent += 1
                key, raw = requests[index]
                writer.write(raw)
                status = await _read_status(reader)
                latencies.append(time.perf_counter() - scheduled)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    acknowledged.add(key)
        finally:
            writer.close()

    async def schedule() -> None:
        for index in range(int(rate * seconds)):
            at = started + index / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((index, at))
        for _ in range(CONNECTIONS):
            queue.put_nowait(None)

    workers = [asyncio.create_task(connection()) for _ in range(CONNECTIONS)]
    if mode == "open":
        await schedule()
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "elapsed": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "max_ms": ordered[-1] * 1000,
        "statuses": statuses,
        "acknowledged": sorted(acknowledged),
    }


def run_load(port: int, mode: str, seconds: float, rate: float, run: str, out: Path) -> None:
    import uvloop

    result = uvloop.run(_load(port, mode, seconds, rate, run))
    out.write_text(json.dumps(result))


# --- orchestration ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(port: int, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                if sock.recv(12).startswith(b"HTTP/1.1"):
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered on port {port}")


def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, *args], env={**os.environ, **(env or {})}, start_new_session=True
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def _tree_cpu_seconds(root: int) -> float:
    """User + system CPU of a process and all its descendants (uvicorn workers, Postgres backends)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0.0) for pid in tree)


def _measure(
    server: int, postgres: int, port: int, mode: str, seconds: float, rate: float, run: str, work: Path
) -> dict[str, Any]:
    out = work / f"{run}.json"
    server_before, postgres_before = _tree_cpu_seconds(server), _tree_cpu_seconds(postgres)
    loader = _spawn("load", str(port), mode, str(seconds), str(rate), run, str(out))
    if loader.wait() != 0:
        raise RuntimeError("the load generator failed")
    result: dict[str, Any] = json.loads(out.read_text())
    # CPU per request stays meaningful when other work on the machine skews req/s and latency.
    result["server_cpu_ms"] = 1000 * (_tree_cpu_seconds(server) - server_before) / max(result["requests"], 1)
    result["postgres_cpu_ms"] = 1000 * (_tree_cpu_seconds(postgres) - postgres_before) / max(result["requests"], 1)
    return result


async def _prepare(database_url: str, secret_key: str) -> None:
    from adapters.postgres import migrations
    from adapters.postgres.engine import make_engine
    from adapters.postgres.partitions import ensure_partitions
    from application.auth import Principal
    from application.channels.register_channel import RegisterChannel, RegisterChannelInput
    from application.tenants.create_tenant import CreateTenant, CreateTenantInput
    from domain.channels.channel import ChannelKind
    from domain.tenants.api_key import ALL_SCOPES
    from entrypoints.ioc.containers import make_cli_container
    from entrypoints.settings import Settings

    await migrations.upgrade(database_url)
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    await ensure_partitions(engine)
    await engine.dispose()
    settings = Settings(data_dir=Path(tempfile.gettempdir()), database_url=database_url, secret_key=secret_key)
    container = make_cli_container(settings)
    operator = Principal(key_id=None, tenant_id=None, scopes=ALL_SCOPES)
    async with container() as request:
        tenant = await (await request.get(CreateTenant)).execute(CreateTenantInput(actor=operator, name="Bench"))
        await (await request.get(RegisterChannel)).execute(
            RegisterChannelInput(
                actor=operator,
                tenant_id=tenant.id,
                kind=ChannelKind.WHATSAPP,
                name="Bench line",
                config={"phone_number_id": PHONE_NUMBER_ID},
                secrets={"access_token": "EAAG-bench"},
            )
        )
    await container.close()


async def _inbox_counts(database_url: str, run: str) -> dict[str, int]:
    import asyncpg

    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await connection.fetch(
            "SELECT provider_event_key, count(*) FROM inbox WHERE provider_event_key LIKE $1 GROUP BY 1",
            f"message:wamid.bench.{run}.%",
        )
    finally:
        await connection.close()
    return {row[0]: row[1] for row in rows}


def _exactly_once(database_url: str, run: str, acknowledged: list[str]) -> str:
    counts = asyncio.run(_inbox_counts(database_url, run))
    missing = [key for key in acknowledged if counts.get(key, 0) == 0]
    doubled = [key for key, count in counts.items() if count > 1]
    unacknowledged = len(set(counts) - set(acknowledged))
    verdict = "OK" if not missing and not doubled else "FAILED"
    return (
        f"{verdict}: {len(acknowledged)} acknowledged events, {len(counts)} inbox rows, "
        f"{len(missing)} missing, {len(doubled)} stored twice, {unacknowledged} stored but not acknowledged"
    )


def _row(name: str, result: dict[str, Any]) -> str:
    codes = ",".join(f"{code}:{n}" for code, n in sorted(result["statuses"].items()))
    return (
        f"{name:<34} {result['rps']:>7.0f} {result['p50_ms']:>7.1f} {result['p99_ms']:>7.1f} {result['max_ms']:>7.1f}"
        f" {result['server_cpu_ms']:>9.3f} {result['postgres_cpu_ms']:>7.3f} {result['requests']:>8} [{codes}]"
    )


def orchestrate(seconds: float, rate: float, workers: int) -> None:
    import pgserver

    from adapters.crypto.aes_gcm import generate_encoded_key

    work = Path(tempfile.mkdtemp(prefix="metachat-bench-"))
    server = pgserver.get_server(work / "pg", cleanup_mode="delete")
    server.psql("CREATE DATABASE metachat;")
    database_url = server.get_uri("metachat")
    secret_key = generate_encoded_key()
    asyncio.run(_prepare(database_url, secret_key))
    api_port, bare_port = _free_port(), _free_port()
    api = _spawn(
        "serve",
        "api_app",
        str(api_port),
        str(workers),
        env={
            "DATABASE_URL": database_url,
            "METACHAT_SECRET_KEY": secret_key,
            "META_APP_SECRET": APP_SECRET,
            "METACHAT_DATA_DIR": str(work),
            "LOG_LEVEL": "WARNING",
            # All load comes from one IP: its per-IP budget is still checked on every request, but must not
            # turn the measured acknowledgements into 429s (120,000/min is ~20 s of this load).
            "WEBHOOK_RATE_LIMIT_PER_MINUTE": "100000000",
        },
    )
    bare = _spawn("serve", "bare_app", str(bare_port), str(workers))
    try:
        _wait_for(api_port, "/api/health")
        _wait_for(bare_port, "/")
        load = os.getloadavg()[0]
        print(f"load average before: {load:.2f} on {os.cpu_count()} cores; uvicorn, {workers} process(es) per server,")
        print("uvloop + httptools; load generator: raw asyncio HTTP/1.1, 64 keep-alive connections, own process\n")
        postmaster = int((work / "pg" / "postmaster.pid").read_text().split()[0])

        def measure(
            process: subprocess.Popen[bytes], port: int, mode: str, duration: float, run: str
        ) -> dict[str, Any]:
            return _measure(process.pid, postmaster, port, mode, duration, rate, run, work)

        measure(bare, bare_port, "closed", 2, "warm-bare")
        measure(api, api_port, "closed", 2, "warm-api")
        bare_max = measure(bare, bare_port, "closed", seconds, "bare-max")
        api_max = measure(api, api_port, "closed", seconds, "api-max")
        bare_rate = measure(bare, bare_port, "open", seconds, "bare-rate")
        api_rate = measure(api, api_port, "open", seconds, "api-rate")
        print(
            f"{'':<34} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'CPU ms/req':>9} {'pg ms':>7}"
            f" {'requests':>8} [status:count]"
        )
        print(_row("bare Litestar route, max", bare_max))
        print(_row("POST /webhooks/whatsapp, max", api_max))
        print(_row(f"bare Litestar route, {rate:.0f} req/s", bare_rate))
        print(_row(f"POST /webhooks/whatsapp, {rate:.0f} req/s", api_rate))
        print(f"\nwebhook throughput = {100 * api_max['rps'] / bare_max['rps']:.0f}% of the bare route (goal >= 50%)")
        print(f"webhook p99 ack at {rate:.0f} req/s = {api_rate['p99_ms']:.1f} ms (goal < 50 ms)")
        for run, result in (("api-max", api_max), ("api-rate", api_rate)):
            print(f"exactly-once ({run}): {_exactly_once(database_url, run, result['acknowledged'])}")
    finally:
        _stop(api)
        _stop(bare)
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("serve", "load"):
        command, args = sys.argv[1], sys.argv[2:]
        if command == "serve":
            serve(args[0], int(args[1]), int(args[2]))
        else:
            run_load(int(args[0]), args[1], float(args[2]), float(args[3]), args[4], Path(args[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measured run")
    parser.add_argument("--rate", type=float, default=500.0, help="request rate of the open-loop runs")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes per server")
    options = parser.parse_args()
    orchestrate(options.seconds, options.rate, options.workers)


if __name__ == "__main__":
    main()
