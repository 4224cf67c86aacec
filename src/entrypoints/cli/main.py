"""The `metachat` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

import uvicorn
import uvloop
from dishka import AsyncContainer
from litestar import Litestar
from litestar.types import ControllerRouterHandler

from adapters.crypto.aes_gcm import generate_encoded_key
from adapters.postgres import migrations
from application.api_keys.issue_api_key import IssueApiKey, IssueApiKeyInput
from application.auth import Principal
from application.ports.unit_of_work import UnitOfWorkFactory
from application.tenants.create_tenant import CreateTenant, CreateTenantInput
from application.webchat.prepare_demo import PrepareWebChatDemo, PrepareWebChatDemoInput
from domain.tenants.api_key import ALL_SCOPES
from entrypoints.gc_tuning import tune_for_server
from entrypoints.http.app import create_app
from entrypoints.http.routes.demo import demo_page, server_origins
from entrypoints.ioc.containers import make_cli_container, make_http_container, make_worker_container
from entrypoints.logging import configure_logging
from entrypoints.runtime import platform_runtime
from entrypoints.settings import ConfigurationError, Settings
from entrypoints.worker.handlers import register_handlers
from entrypoints.worker.registry import WorkerHandlers
from entrypoints.worker.runtime import worker_services

logger = logging.getLogger("metachat")
PLATFORM_OPERATOR = Principal(key_id=None, tenant_id=None, scopes=ALL_SCOPES)
WS_MAX_FRAME_BYTES = 64 * 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="metachat", description="Meta Chat Platform")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="API + worker in one process, embedded services where none are configured")
    commands.add_parser("api", help="HTTP API only")
    commands.add_parser("worker", help="background worker only")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("secret-key", help="print a fresh METACHAT_SECRET_KEY")
    admin_key = commands.add_parser("admin-key", help="manage platform admin keys")
    admin_key.add_subparsers(dest="action", required=True).add_parser("create", help="issue an admin key")
    tenant = commands.add_parser("tenant", help="manage tenants")
    tenant_create = tenant.add_subparsers(dest="action", required=True).add_parser("create", help="create a tenant")
    tenant_create.add_argument("name")
    args = parser.parse_args(argv)

    if args.command == "secret-key":
        print(generate_encoded_key())
        return
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level)
        handlers: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "run": lambda: serve(settings, with_worker=True),
            "api": lambda: serve(settings, with_worker=False),
            "worker": lambda: run_worker(settings),
            "migrate": lambda: migrate(settings),
            "admin-key": lambda: create_admin_key(settings),
            "tenant": lambda: create_tenant(settings, args.name),
        }
        # uvloop (libuv, from uvicorn[standard]): sockets, timers and callbacks in C rather than in the
        # pure-Python event loop, a large share of the CPU of every database, broker and HTTP round trip.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(handlers[args.command]())
    except ConfigurationError as error:
        print(f"metachat: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror}") from error


async def serve(settings: Settings, *, with_worker: bool) -> None:
    _check_port_free(settings.http.host, settings.http.port)
    async with platform_runtime(settings, migrate=with_worker) as ready:
        container = make_http_container(ready, worker=register_handlers(WorkerHandlers()) if with_worker else None)
        await _announce_first_admin_key(container, ready)
        extra: list[ControllerRouterHandler] = []
        if with_worker:
            extra.append(demo_page(await _prepare_demo(container, ready)))
        app = create_app(container, ready, extra)
        if with_worker:
            _host_worker(app, container, ready)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=ready.http.host,
                port=ready.http.port,
                log_config=None,
                access_log=False,
                # Web chat frames are a few KB; bigger ones are refused by the protocol layer (close 1009).
                ws_max_size=WS_MAX_FRAME_BYTES,
            )
        )
        logger.info("API listening", extra={"host": ready.http.host, "port": ready.http.port})
        await server.serve()


def _host_worker(app: Litestar, container: AsyncContainer, settings: Settings) -> None:
    """`metachat run`: the worker starts with the API and stops before the container closes (shutdown
    hooks run in reverse order, so the last one added runs first)."""
    worker = AsyncExitStack()

    async def start_worker() -> None:
        await worker.enter_async_context(worker_services(container, settings))

    app.on_startup.append(start_worker)
    app.on_shutdown.append(worker.aclose)


async def _prepare_demo(container: AsyncContainer, settings: Settings) -> str:
    """`metachat run` only: the demo tenant and web chat widget behind /demo (made on the first start)."""
    origins = server_origins(settings.http.host, settings.http.port)
    async with container() as request:
        use_case = await request.get(PrepareWebChatDemo)
        demo = await use_case.execute(PrepareWebChatDemoInput(origins=origins))
    print(f"\n  Chat with the demo assistant: {origins[0]}/demo\n", flush=True)
    return demo.widget_id


async def run_worker(settings: Settings) -> None:
    async with platform_runtime(settings, migrate=False) as ready:
        container = make_worker_container(ready)
        try:
            async with worker_services(container, ready):
                tune_for_server()
                await asyncio.Event().wait()
        finally:
            await container.close()


async def migrate(settings: Settings) -> None:
    async with platform_runtime(settings, migrate=True) as ready:
        assert ready.database_url is not None
        await migrations.upgrade(ready.database_url)
        print("database is at the latest migration")


async def create_admin_key(settings: Settings) -> None:
    async with platform_runtime(settings, migrate=False) as ready:
        container = make_cli_container(ready)
        try:
            plaintext = await _issue_admin_key(container, "cli")
        finally:
            await container.close()
        print(plaintext)


async def create_tenant(settings: Settings, name: str) -> None:
    async with platform_runtime(settings, migrate=False) as ready:
        container = make_cli_container(ready)
        try:
            async with container() as request:
                use_case = await request.get(CreateTenant)
                view = await use_case.execute(CreateTenantInput(actor=PLATFORM_OPERATOR, name=name))
        finally:
            await container.close()
        print(view.id)


async def _issue_admin_key(container: AsyncContainer, name: str) -> str:
    async with container() as request:
        issuer = await request.get(IssueApiKey)
        issued = await issuer.execute(
            IssueApiKeyInput(actor=None, tenant_id=None, name=name, scopes=frozenset(ALL_SCOPES))
        )
    return issued.plaintext


async def _announce_first_admin_key(container: AsyncContainer, settings: Settings) -> None:
    """First start of a fresh platform: print an admin key once, so the operator can call the API."""
    uow_factory = await container.get(UnitOfWorkFactory)
    async with uow_factory(None) as uow:
        existing = await uow.api_keys.list(None)
    if existing:
        return
    plaintext = await _issue_admin_key(container, "first-start")
    print(
        "\n  First start: an admin API key was created. It is shown only this once:\n\n"
        f"    {plaintext}\n\n"
        f"  Try: curl -H 'Authorization: Bearer <key>' http://{settings.http.host}:{settings.http.port}/api/tenants\n",
        flush=True,
    )


if __name__ == "__main__":
    main()
