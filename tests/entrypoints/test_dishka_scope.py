"""Request scopes are opened after routing, and not at all for handlers that only use app-scoped objects."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any, NewType

import httpx
import pytest
from dishka import AsyncContainer, FromDishka, Provider, Scope, make_async_container, provide
from dishka.integrations.litestar import DishkaRouter, LitestarProvider
from litestar import Litestar, Request, get

from entrypoints.http.dishka_scope import APP_SCOPE_ONLY, dishka_scope_middleware

AppCounter = NewType("AppCounter", itertools.count)
RequestNumber = NewType("RequestNumber", int)


class CountingProvider(Provider):
    @provide(scope=Scope.APP)
    def counter(self) -> AppCounter:
        return AppCounter(itertools.count(1))

    @provide(scope=Scope.REQUEST)
    def number(self, counter: AppCounter, request: Request) -> RequestNumber:  # type: ignore[type-arg]
        assert request.url.path == "/scoped"
        return RequestNumber(next(counter))


@get("/scoped")
async def scoped(request: Request[Any, Any, Any], number: FromDishka[RequestNumber]) -> dict[str, Any]:
    return {"number": number, "app_container": request.state.dishka_container is request.app.state.dishka_container}


@get("/app-only", opt=APP_SCOPE_ONLY)
async def app_only(request: Request[Any, Any, Any], counter: FromDishka[AppCounter]) -> dict[str, Any]:
    return {"app_container": request.state.dishka_container is request.app.state.dishka_container}


@get("/app-only-asks-for-request-scope", opt=APP_SCOPE_ONLY)
async def misdeclared(number: FromDishka[RequestNumber]) -> int:
    return number


@pytest.fixture
async def container() -> AsyncIterator[AsyncContainer]:
    container = make_async_container(CountingProvider(), LitestarProvider())
    yield container
    await container.close()


@pytest.fixture
async def client(container: AsyncContainer) -> AsyncIterator[httpx.AsyncClient]:
    app = Litestar(
        route_handlers=[DishkaRouter("", route_handlers=[scoped, app_only, misdeclared])],
        middleware=[dishka_scope_middleware],
    )
    app.state.dishka_container = container
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


async def test_each_request_gets_its_own_scope(client: httpx.AsyncClient) -> None:
    first, second = (await client.get("/scoped")).json(), (await client.get("/scoped")).json()
    assert (first["number"], second["number"]) == (1, 2)
    assert first["app_container"] is False


async def test_app_scope_only_handlers_get_the_app_container(client: httpx.AsyncClient) -> None:
    response = await client.get("/app-only")
    assert response.json() == {"app_container": True}


async def test_an_app_scope_only_handler_cannot_reach_request_scoped_objects(client: httpx.AsyncClient) -> None:
    assert (await client.get("/app-only-asks-for-request-scope")).status_code == 500
