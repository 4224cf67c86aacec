"""POST /api/webchat/sessions: the widget's public entry, guarded by the channel's origin allow-list and a
per-address rate limit; and the built widget files with their cache headers."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from dishka import AsyncContainer, Provider, Scope, provide
from litestar import Litestar

from entrypoints.http.app import create_app
from entrypoints.http.routes.webchat import SESSIONS_PER_MINUTE_PER_IP
from entrypoints.http.widget_assets import WidgetAssets
from entrypoints.ioc.containers import make_http_container
from entrypoints.settings import Settings
from tests.support.webchat import SITE, create_widget, start_session

Client = httpx.AsyncClient


async def test_an_allowed_site_gets_a_token_and_the_widget_look(client: Client) -> None:
    widget = await create_widget(client, title="Ask Acme", brand_color="#ff6600", position="left")

    response = await client.post(
        "/api/webchat/sessions", json={"widgetId": widget["widget_id"]}, headers={"Origin": SITE}
    )

    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["socketPath"] == "/ws/webchat"
    assert body["token"].count(".") == 2
    assert body["visitorId"].startswith("v_")
    assert body["widget"] == {
        "widgetId": widget["widget_id"],
        "title": "Ask Acme",
        "brandColor": "#ff6600",
        "position": "left",
        "greeting": "Hi! How can I help you today?",
        "avatarUrl": "",
    }


async def test_a_returning_visitor_keeps_their_id_and_a_made_up_one_is_replaced(client: Client) -> None:
    widget = await create_widget(client)
    first = await start_session(client, widget["widget_id"])

    again = await start_session(client, widget["widget_id"], visitor_id=first["visitorId"])
    made_up = await start_session(client, widget["widget_id"], visitor_id="v_" + "x" * 38)

    assert again["visitorId"] == first["visitorId"]
    assert made_up["visitorId"] not in (first["visitorId"], "v_" + "x" * 38)


@pytest.mark.parametrize("origin", ["https://evil.example", "http://shop.example", None])
async def test_a_site_not_on_the_allow_list_is_refused(client: Client, origin: str | None) -> None:
    widget = await create_widget(client)
    headers = {"Origin": origin} if origin else {}

    response = await client.post("/api/webchat/sessions", json={"widgetId": widget["widget_id"]}, headers=headers)

    assert response.status_code == 403
    assert response.json()["error"]["details"]["reason"] == "origin"
    # The page may read the refusal (the loader then stops), but gets no token.
    assert response.headers.get("access-control-allow-origin") == origin
    assert "token" not in response.json()


async def test_a_channel_allowing_every_site_accepts_any_origin(client: Client) -> None:
    widget = await create_widget(client, allowed_origins=["*"])

    session = await start_session(client, widget["widget_id"], origin="https://anywhere.example")

    assert session["visitorId"].startswith("v_")


async def test_unknown_and_inactive_widgets_are_not_found(client: Client) -> None:
    widget = await create_widget(client)
    replaced = await client.put(
        f"/api/tenants/{widget['tenant_id']}/channels/{widget['channel_id']}",
        json={
            "name": "Website",
            "config": {"widget_id": widget["widget_id"], "allowed_origins": [SITE]},
            "active": False,
        },
    )
    assert replaced.status_code == 200, replaced.text

    for widget_id in ("wgt_nobody", widget["widget_id"]):
        response = await client.post("/api/webchat/sessions", json={"widgetId": widget_id}, headers={"Origin": SITE})
        assert response.status_code == 404


async def test_bad_bodies_are_refused(client: Client) -> None:
    for body in ({}, {"widgetId": ""}, {"widgetId": "w", "extra": 1}, {"widgetId": "w" * 101}):
        response = await client.post("/api/webchat/sessions", json=body, headers={"Origin": SITE})
        assert response.status_code in (400, 422), body
        assert response.json()["error"]["code"] in ("bad_request", "validation_failed")


async def test_the_preflight_lets_the_page_ask(client: Client) -> None:
    response = await client.options(
        "/api/webchat/sessions",
        headers={
            "Origin": SITE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-allow-methods"] == "POST"
    assert response.headers["access-control-allow-headers"] == "content-type"


async def test_sessions_are_rate_limited_per_address(client: Client, app: Litestar) -> None:
    widget = await create_widget(client)
    address = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://testserver"
    ) as visitor:
        statuses = [
            (
                await visitor.post(
                    "/api/webchat/sessions", json={"widgetId": widget["widget_id"]}, headers={"Origin": SITE}
                )
            ).status_code
            for _ in range(SESSIONS_PER_MINUTE_PER_IP + 1)
        ]
        limited = await visitor.post("/api/webchat/sessions", json={"widgetId": widget["widget_id"]})

    assert statuses[:SESSIONS_PER_MINUTE_PER_IP] == [200] * SESSIONS_PER_MINUTE_PER_IP
    assert statuses[-1] == 429
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert limited.json()["error"]["code"] == "rate_limited"


# --- the built widget ------------------------------------------------------------------------------


@pytest.fixture
def widget_dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "v" / "abc123").mkdir(parents=True)
    (dist / "loader.js").write_text("/* loader */")
    (dist / "v" / "abc123" / "app.js").write_text("/* app */")
    (dist / "v" / "abc123" / "frame.html").write_text("<!doctype html>")
    (tmp_path / "secret.js").write_text("/* outside dist */")
    return dist


@pytest.fixture
async def assets_client(settings: Settings, widget_dist: Path) -> AsyncIterator[Client]:
    class BuiltWidget(Provider):
        @provide(scope=Scope.APP)
        def assets(self) -> WidgetAssets:
            return WidgetAssets(widget_dist)

    container: AsyncContainer = make_http_container(settings, BuiltWidget())
    app = create_app(container, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as assets:
        yield assets
    await container.close()


async def test_the_loader_keeps_its_name_and_is_cached_briefly(assets_client: Client) -> None:
    response = await assets_client.get("/widget/loader.js")

    assert response.status_code == 200
    assert response.text == "/* loader */"
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "public, max-age=300"
    again = await assets_client.get("/widget/loader.js", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


async def test_versioned_files_are_cached_for_a_year(assets_client: Client) -> None:
    script = await assets_client.get("/widget/v/abc123/app.js")
    frame = await assets_client.get("/widget/v/abc123/frame.html")

    assert script.status_code == 200
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert frame.headers["content-type"].startswith("text/html")
    # The frame may run only its own script and connect only to the platform.
    policy = frame.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "content-security-policy" not in script.headers


@pytest.mark.parametrize(
    "path",
    [
        "/widget/v/abc123/missing.js",
        "/widget/v/other/app.js",
        "/widget/v/abc123/..%2F..%2Fsecret.js",
        "/widget/v/abc123/notes.txt",
    ],
)
async def test_anything_else_under_widget_is_not_found(assets_client: Client, path: str) -> None:
    assert (await assets_client.get(path)).status_code == 404
