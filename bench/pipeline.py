"""The whole pipeline under load: signed WhatsApp webhook → API → inbox → worker (RabbitMQ) → conversation
turn (retrieval, a zero-latency scripted LLM) → reply at the fake Graph API.

Run: uv run python bench/pipeline.py [--seconds 20] [--in-flight 64] [--rate 100] [--partitions 8] [--workers 1]
                                     [--conversing]
                                     [--knowledge] [--tool-round]

What it does, all on this machine (loopback only):
1. starts an embedded PostgreSQL (pgserver), migrates it; RabbitMQ is the machine's (a throwaway namespace);
2. in this process: the fake Graph API and a fake OpenAI server whose chat model answers at once
   ("You said: …", no tool call; --tool-round makes it search the knowledge base first, then answer);
3. starts `metachat api` and `metachat worker` (--workers of them) as separate processes (OPENAI_BASE_URL →
   the fake);
4. creates a tenant with one WhatsApp channel through the API; with --knowledge (implied by --tool-round) the
   tenant also gets a small indexed document, so every turn retrieves passages as a tenant with knowledge does;
5. sends signed webhooks, one text message each, every message from its own contact (so no two are merged
   into one turn; each message opens a conversation, the costliest case), or with --conversing from contacts
   who chat (a contact writes again once its reply arrived, so turns read a growing history), from a
   raw-asyncio HTTP/1.1 client with 32 keep-alive connections:
   - throughput: closed loop, --in-flight messages awaiting their reply at any time, for --seconds;
     replies per second over that window;
   - latency: open loop at --rate for --seconds; webhook POST (scheduled time, no coordinated omission)
     to the fake Graph API receiving the reply, p50/p99 (a rate above capacity shows as a growing queue);
6. checks that every message got exactly one reply.
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
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.local_server import RecordedRequest
from tests.fakes.openai_server import ChatScript, FakeOpenAIServer, ScriptedTurn

APP_SECRET = "bench-app-secret"
ADMIN_KEY = "bench-admin-" + uuid.uuid4().hex
PHONE_NUMBER_ID = "106540352242922"
CONNECTIONS = 32


class DirectChat(ChatScript):
    """Zero-latency model: answers the user's words back, at once; with `tool_round`, it first asks for
    one knowledge search and answers after the result."""

    def __init__(self, *, tool_round: bool) -> None:
        super().__init__()
        self.tool_round = tool_round

    def next_turn(self, payload: dict[str, Any]) -> ScriptedTurn:
        messages = payload.get("messages", [])
        question = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        if self.tool_round and messages and messages[-1].get("role") == "user":
            return ScriptedTurn.call("search_knowledge_base", query=str(question)[:200])
        return ScriptedTurn(text=f"You said: {question}")


class StampedRequests(list[RecordedRequest]):
    """The fake Graph API's request log, with the moment each request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived_at: list[float] = []

    def append(self, request: RecordedRequest) -> None:
        self.arrived_at.append(time.monotonic())
        super().append(request)


class Replies:
    """Reply arrival times at the fake Graph API, by the message tag they echo."""

    def __init__(self, graph: FakeGraphApi) -> None:
        self.log = StampedRequests()
        graph.requests = self.log
        self.seen = 0
        self.arrived: dict[str, list[float]] = {}

    def collect(self) -> list[str]:
        """Takes in the requests logged since the last call; the tags they echo."""
        end = len(self.log)
        tags = []
        for index in range(self.seen, end):
            tag = _tag(self.log[index])
            if tag is not None:
                self.arrived.setdefault(tag, []).append(self.log.arrived_at[index])
                tags.append(tag)
        self.seen = end
        return tags


def _tag(request: RecordedRequest) -> str | None:
    if request.method != "POST" or not request.path.endswith("/messages"):
        return None
    body = request.json
    if body.get("type") != "text":
        return None
    text = str(body["text"]["body"])
    start = text.find("[m:")
    return text[start + 3 : text.find("]", start)] if start >= 0 else None


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def _webhook(port: int, tag: str, contact: str) -> bytes:
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
                            "contacts": [{"profile": {"name": "Zoë"}, "wa_id": contact}],
                            "messages": [
                                {
                                    "from": contact,
                                    "id": f"wamid.bench.{tag}",
                                    "timestamp": str(int(time.time())),
                                    "type": "text",
                                    "text": {"body": f"Where is my order? [m:{tag}]"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    head = (
        f"POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: sha256={digest}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next((int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:")), 0)
    if length:
        await reader.readexactly(length)
    return int(lines[0].split(b" ")[1])


class Sender:
    """Signed webhooks over keep-alive connections; each message is scheduled, sent, and its reply awaited."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.refused = Counter[int]()
        self._connections: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Sender:
        self._connections = [asyncio.create_task(self._connection()) for _ in range(CONNECTIONS)]
        return self

    async def __aexit__(self, *_: object) -> None:
        for _ in self._connections:
            self.queue.put_nowait(None)
        await asyncio.gather(*self._connections)
        if self.refused:
            print(f"  webhook POSTs not acknowledged: {dict(self.refused)}")

    def send(self, tag: str, contact: int | None = None) -> None:
        """From contact number `contact`; by default every message from its own contact: one turn per message,
        none merged with another."""
        number = f"2{contact:010d}" if contact is not None else f"1{_digest(tag) % 10**10:010d}"
        self.queue.put_nowait(_webhook(self.port, tag, number))

    async def _connection(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            while (raw := await self.queue.get()) is not None:
                for _attempt in range(3):
                    try:
                        writer.write(raw)
                        status = await _read_status(reader)
                        break
                    except (ConnectionError, asyncio.IncompleteReadError):
                        # The server closed an idle keep-alive connection: reconnect and send again (the
                        # webhook carries the same message id, so a repeat is stored once).
                        writer.close()
                        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                else:
                    status = 0
                if status != 200:
                    self.refused[status] += 1
        finally:
            writer.close()


async def _open_loop(
    sender: Sender, run: str, rate: float, seconds: float, *, conversing: bool = False
) -> dict[str, float]:
    """Send rate * seconds messages on schedule; each message's scheduled send time by tag. `conversing`: the
    messages come in turn from 2 * rate contacts, each writing every two seconds."""
    scheduled: dict[str, float] = {}
    contacts = max(1, int(2 * rate))
    started = time.monotonic()
    for index in range(int(rate * seconds)):
        at = started + index / rate
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tag = f"{run}-{index}"
        scheduled[tag] = at
        sender.send(tag, index % contacts if conversing else None)
    return scheduled


async def _closed_loop(
    sender: Sender, replies: Replies, run: str, in_flight: int, seconds: float, *, conversing: bool = False
) -> tuple[dict[str, float], float]:
    """Keep `in_flight` messages waiting for their reply for `seconds`; send times by tag, and the length
    of the measured window (replies are counted from the first send to the end of the window). `conversing`:
    `in_flight` contacts chat, each sending its next message once the reply to its last one has arrived."""
    scheduled: dict[str, float] = {}
    # Kept up to date from the replies as they arrive (tag → its contact's slot): recounting every message sent
    # so far at each tick took this process more CPU the longer the run, CPU the platform under test shares.
    waiting: dict[str, int] = {}
    free_slots = list(range(in_flight))
    started = time.monotonic()
    end = started + seconds
    index = 0
    while time.monotonic() < end:
        for tag in replies.collect():
            if tag in waiting:
                free_slots.append(waiting.pop(tag))
        while free_slots:
            slot = free_slots.pop()
            tag = f"{run}-{index}"
            scheduled[tag] = time.monotonic()
            waiting[tag] = slot
            sender.send(tag, slot if conversing else None)
            index += 1
        await asyncio.sleep(0.005)
    return scheduled, time.monotonic() - started


async def _await_replies(replies: Replies, tags: dict[str, float], patience: float) -> None:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        replies.collect()
        if all(tag in replies.arrived for tag in tags):
            return
        await asyncio.sleep(0.05)
    replies.collect()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)]


def _report(name: str, scheduled: dict[str, float], replies: Replies, window: float | None = None) -> dict[str, float]:
    answered = {tag: replies.arrived[tag] for tag in scheduled if tag in replies.arrived}
    latencies = [(times[0] - scheduled[tag]) * 1000 for tag, times in answered.items()]
    duplicates = sum(1 for times in answered.values() if len(times) > 1)
    missing = len(scheduled) - len(answered)
    first_send = min(scheduled.values())
    if window is None:
        last_reply = max(times[0] for times in answered.values()) if answered else first_send
        throughput = len(answered) / (last_reply - first_send) if answered else 0.0
    else:
        throughput = sum(1 for times in answered.values() if times[0] - first_send <= window) / window
    result = {
        "messages": float(len(scheduled)),
        "throughput": throughput,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": _percentile(latencies, 0.99) if latencies else float("nan"),
        "max": max(latencies) if latencies else float("nan"),
    }
    print(
        f"{name:<34} {len(scheduled):>8} {throughput:>8.1f} {result['p50']:>9.1f} {result['p99']:>9.1f}"
        f" {result['max']:>9.1f}   replied once: {len(answered) - duplicates}, twice+: {duplicates}, none: {missing}"
    )
    return result


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int, *, with_reaped_children: bool = False) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: backends that already exited
    return ticks / CLOCK_TICKS


class CpuMeter:
    """CPU seconds spent by each part of the pipeline, read from /proc: what one message costs."""

    def __init__(self, api: int, workers: list[int], postgres_dir: Path) -> None:
        self.api = api
        self.workers = workers
        self.postmaster = int((postgres_dir / "postmaster.pid").read_text().split()[0])
        # The broker, when it runs on this machine (its Erlang VM): it shares the same two cores.
        self.brokers = [pid for pid in _pids() if _command(pid).startswith("beam")]

    def sample(self) -> dict[str, float]:
        backends = [pid for pid in _pids() if _parent(pid) == self.postmaster]
        sample = {
            "api": _cpu_seconds(self.api),
            "worker": sum(_cpu_seconds(pid) for pid in self.workers),
            "postgres": _cpu_seconds(self.postmaster, with_reaped_children=True)
            + sum(_cpu_seconds(pid) for pid in backends),
            "bench": time.process_time(),
        }
        if self.brokers:
            sample["rabbitmq"] = sum(_cpu_seconds(pid) for pid in self.brokers)
        return sample

    @staticmethod
    def report(before: dict[str, float], after: dict[str, float], messages: int) -> None:
        if not messages:
            return
        parts = {name: (after[name] - before[name]) * 1000 / messages for name in before}
        shown = ", ".join(f"{name} {value:.1f}" for name, value in parts.items())
        print(f"{'':<34} CPU ms per reply: {shown}; total {sum(parts.values()):.1f}")


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _wait_healthy(port: int, patience: float = 90.0) -> None:
    import httpx

    deadline = time.monotonic() + patience
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                response = await client.get(f"http://127.0.0.1:{port}/api/health")
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError("the API did not become healthy")


async def _setup_tenant(port: int, *, with_document: bool) -> None:
    import httpx

    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as client:
        tenant = (await client.post("/api/tenants", json={"name": "Bench", "settings": {}})).json()
        if with_document:
            # Something for the model's search to find: a tenant with nothing indexed is offered no search.
            await _index_document(client, tenant["id"])
        response = await client.post(
            f"/api/tenants/{tenant['id']}/channels",
            json={
                "kind": "whatsapp",
                "name": "Bench line",
                "config": {"phone_number_id": PHONE_NUMBER_ID, "send_rate_per_second": 1000},
                "secrets": {"access_token": "EAAG-test-token"},
            },
        )
        response.raise_for_status()


async def _index_document(client: Any, tenant_id: str) -> None:
    text = "\n\n".join(
        f"Order {number} ships within {number % 5 + 1} days; refunds are paid within 30 days of a return."
        for number in range(200)
    )
    response = await client.post(
        f"/api/tenants/{tenant_id}/documents", files={"file": ("orders.txt", text.encode(), "text/plain")}
    )
    response.raise_for_status()
    [document] = response.json()["documents"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = (await client.get(f"/api/tenants/{tenant_id}/documents/{document['id']}")).json()
        if state["status"] == "ready":
            return
        if state["status"] == "failed":
            raise RuntimeError(f"the bench document was not indexed: {state.get('error')}")
        await asyncio.sleep(0.2)
    raise RuntimeError("the bench document was not indexed within 120 s")


async def _delete_namespace(rabbitmq_url: str, namespace: str, partitions: int) -> None:
    import aio_pika

    from entrypoints.worker.handlers import register_handlers
    from entrypoints.worker.registry import WorkerHandlers

    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        for index in range(partitions):
            await channel.queue_delete(f"{namespace}.tasks.{index}")
        # The worker's own event queues too (the web chat's handoff notices), or they outlive the run.
        consumers = [subscription.consumer for subscription in register_handlers(WorkerHandlers()).events]
        for name in (
            f"{namespace}.tasks.dead",
            f"{namespace}.events.dead",
            *(f"{namespace}.events.{consumer}" for consumer in consumers),
        ):
            await channel.queue_delete(name)
        for exchange in (f"{namespace}.events", f"{namespace}.tasks", f"{namespace}.dead"):
            await channel.exchange_delete(exchange)


async def orchestrate(options: argparse.Namespace) -> None:
    import pgserver

    from adapters.crypto.aes_gcm import generate_encoded_key
    from adapters.postgres import migrations

    work = Path(tempfile.mkdtemp(prefix="metachat-pipeline-"))
    server = pgserver.get_server(work / "pg", cleanup_mode="delete")
    server.psql("CREATE DATABASE metachat;")
    database_url = server.get_uri("metachat")
    await migrations.upgrade(database_url)
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    processes: list[asyncio.subprocess.Process] = []
    async with FakeGraphApi() as graph, FakeOpenAIServer() as llm:
        llm.chat = DirectChat(tool_round=options.tool_round)
        port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": options.rabbitmq_url,
            "RABBITMQ_NAMESPACE": namespace,
            "TASK_PARTITIONS": str(options.partitions),
            "METACHAT_SECRET_KEY": generate_encoded_key(),
            "METACHAT_DATA_DIR": str(work),
            "ADMIN_API_KEY": ADMIN_KEY,
            "META_APP_SECRET": APP_SECRET,
            "META_GRAPH_API_URL": graph.base_url,
            "OPENAI_API_KEY": "bench-key",
            "OPENAI_BASE_URL": llm.base_url,
            "OPENAI_MODEL": "scripted",
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "WEBHOOK_RATE_LIMIT_PER_MINUTE": "10000000",
            # Compile the code base once into a cache, not at every process start.
            "PYTHONDONTWRITEBYTECODE": "",
            "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "metachat-bench-pycache"),
        }
        try:
            for role in ("api", *["worker"] * options.workers):
                processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "entrypoints.cli.main", role, env=env, start_new_session=True
                    )
                )
            await _wait_healthy(port)
            await _setup_tenant(port, with_document=options.knowledge or options.tool_round)
            replies = Replies(graph)
            meter = CpuMeter(processes[0].pid, [process.pid for process in processes[1:]], work / "pg")
            print(
                f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; API: 1 process, worker:"
                f" {options.workers} process(es); {options.partitions} task partitions; LLM: zero-latency scripted"
                f"{' with one knowledge-search round' if options.tool_round else ''}"
                f"{'; the tenant has an indexed document' if options.knowledge or options.tool_round else ''}\n"
            )
            print(f"{'':<34} {'messages':>8} {'msgs/s':>8} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
            async with Sender(port) as sender:
                warm = await _open_loop(sender, "warm", 20, 5)
                await _await_replies(replies, warm, 60)
                _report("warm-up, 20/s", warm, replies)
                before = meter.sample()
                peak, window = await _closed_loop(
                    sender, replies, "peak", options.in_flight, options.seconds, conversing=options.conversing
                )
                await _await_replies(replies, peak, 120)
                peak_result = _report(f"throughput, {options.in_flight} in flight", peak, replies, window)
                meter.report(before, meter.sample(), len(peak))
                before = meter.sample()
                steady = await _open_loop(
                    sender, "steady", options.rate, options.seconds, conversing=options.conversing
                )
                await _await_replies(replies, steady, 3 * options.seconds)
                steady_result = _report(f"latency, offered {options.rate:.0f}/s", steady, replies)
                meter.report(before, meter.sample(), len(steady))
                # Let a queue built above capacity drain before measuring below it.
                await _await_replies(replies, steady, 600)
                # Below capacity the queue stays empty: latency of the pipeline itself.
                easy_rate = max(1.0, round(min(options.rate, peak_result["throughput"] / 2)))
                if easy_rate < options.rate:
                    before = meter.sample()
                    easy = await _open_loop(sender, "easy", easy_rate, options.seconds, conversing=options.conversing)
                    await _await_replies(replies, easy, 3 * options.seconds)
                    _report(f"latency, offered {easy_rate:.0f}/s", easy, replies)
                    meter.report(before, meter.sample(), len(easy))
            print(
                f"\nsustained throughput {peak_result['throughput']:.0f} messages/s (goal >= 200);"
                f" p99 at {options.rate:.0f}/s: {steady_result['p99']:.0f} ms (goal < 250 ms)"
            )
        finally:
            for process in processes:
                process.send_signal(signal.SIGINT)
            for process in processes:
                try:
                    await asyncio.wait_for(process.wait(), 15)
                except TimeoutError:
                    process.kill()
            await _delete_namespace(options.rabbitmq_url, namespace, options.partitions)
            server.cleanup()
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each measured run")
    parser.add_argument("--in-flight", type=int, default=64, help="messages awaiting their reply (throughput run)")
    parser.add_argument("--rate", type=float, default=100.0, help="offered rate of the latency run")
    parser.add_argument("--partitions", type=int, default=16, help="TASK_PARTITIONS (parallel conversations)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--conversing",
        action="store_true",
        help="contacts chat (each sends its next message after its reply) instead of each message opening a"
        " conversation of its own",
    )
    parser.add_argument("--knowledge", action="store_true", help="the tenant has an indexed document to retrieve from")
    parser.add_argument(
        "--tool-round", action="store_true", help="the model searches once before answering (implies --knowledge)"
    )
    parser.add_argument("--rabbitmq-url", default=os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    options = parser.parse_args()
    # The fake Graph API, the fake model and the webhook sender run here, on the same two cores as the
    # platform: on uvloop, as the platform's processes are, they take less of what is being measured.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(orchestrate(options))


if __name__ == "__main__":
    main()
