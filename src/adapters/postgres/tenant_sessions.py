"""A small asyncpg pool, without SQLAlchemy, for writes that are one statement each, committed on their own:
one round trip, where a unit of work costs three more (checkout, BEGIN with its scope, COMMIT).

The pool's connections do nothing else, so their row-level security scope is set for the session, not
per transaction: the app role when a connection opens, the tenant when the connection last wrote for
another tenant (one more round trip). Row-level security still checks every row against that tenant,
so a scope that were ever wrong would fail the write, never store rows under another tenant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import asyncpg  # type: ignore[import-untyped]

from adapters.postgres.engine import APP_ROLE, CONNECTION_ERRORS, to_driver_dsn
from application.errors import ServiceUnavailable
from domain.common.ids import TenantId

_SESSION_SCOPE = "SELECT set_config('role', $1, false), set_config('app.bypass_rls', 'off', false)"
_TENANT_SCOPE = "SELECT set_config('app.tenant_id', $1, false)"


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Released connections keep their session: its scope is what saves the round trips (asyncpg
    still rolls back a transaction left open, though none is ever opened here)."""


class TenantSessions:
    def __init__(
        self, database_url: str, *, max_connections: int = 8, session_settings: Mapping[str, str] | None = None
    ) -> None:
        self._dsn = to_driver_dsn(database_url)
        self._max_connections = max_connections
        self._session_settings = dict(session_settings or {})
        self._pool: asyncpg.Pool | None = None
        # The tenant each open connection (by server process id) is scoped to.
        self._tenant_of: dict[int, TenantId] = {}

    async def start(self) -> None:
        # Connections are opened on first use, so a database that is down does not stop start-up.
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=0,
            max_size=self._max_connections,
            init=self._open_session,
            reset=_keep_session,
            server_settings=self._session_settings,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    @asynccontextmanager
    async def scoped_to(self, tenant_id: TenantId) -> AsyncIterator[asyncpg.Connection]:
        """A connection whose session is scoped to the tenant. Outside any explicit transaction, each statement
        on it commits on its own before it answers; a lost connection is ServiceUnavailable (whether the
        statement committed is then unknown)."""
        if self._pool is None:
            raise RuntimeError("the tenant sessions are used before start()")
        try:
            connection = await self._pool.acquire()
        except CONNECTION_ERRORS as error:
            raise ServiceUnavailable("the database is not reachable") from error
        try:
            pid = connection.get_server_pid()
            if self._tenant_of.get(pid) != tenant_id:
                self._tenant_of.pop(pid, None)
                await connection.execute(_TENANT_SCOPE, str(tenant_id))
                self._tenant_of[pid] = tenant_id
            yield connection
        except CONNECTION_ERRORS as error:
            raise ServiceUnavailable("the database is not reachable") from error
        finally:
            await self._pool.release(connection)

    async def _open_session(self, connection: asyncpg.Connection) -> None:
        await connection.execute(_SESSION_SCOPE, APP_ROLE)
        pid: int = connection.get_server_pid()
        # A new connection may reuse a closed one's process id: nothing is known about its tenant yet.
        self._tenant_of.pop(pid, None)
        connection.add_termination_listener(lambda _: self._tenant_of.pop(pid, None))
