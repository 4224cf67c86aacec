"""/demo (only under `metachat run`): a page that embeds the web chat widget exactly the way a tenant's
site would, with the snippet shown on the page."""

from __future__ import annotations

import html
from typing import Any

from dishka import FromDishka
from litestar import MediaType, Request, Response, get
from litestar.handlers import HTTPRouteHandler

from entrypoints.http.widget_assets import WidgetAssets

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Northwind Outdoor · Meta Chat Platform demo</title>
<style>
body {{ margin: 0; font: 16px/1.5 system-ui, sans-serif; color: #1f2937; background: #f8fafc; }}
header {{ background: #0f766e; color: #fff; padding: 28px 24px; }}
header h1 {{ margin: 0; font-size: 28px; }}
main {{ max-width: 760px; margin: 0 auto; padding: 24px; }}
pre {{ background: #0f172a; color: #e2e8f0; padding: 14px; border-radius: 8px; overflow-x: auto; font-size: 13px; }}
.warning {{ background: #fef3c7; padding: 12px; border-radius: 8px; }}
</style>
</head>
<body>
<header><h1>Northwind Outdoor</h1><p>Tents, boots and everything for the trail. (A demo store.)</p></header>
<main>
{warning}
<h2>Chat with the assistant</h2>
<p>Open the chat in the corner and ask, for example, <em>"How long do I have to return something?"</em> or
<em>"Do you ship to Canada?"</em>. The answers come from the demo tenant's knowledge base, with their sources.</p>
<h2>Put it on your own site</h2>
<p>This page embeds the widget with one tag. A tenant pastes the same line into their site, with their
widget id (each web chat channel has one) and their site listed in the channel's <code>allowed_origins</code>:</p>
<pre>{snippet}</pre>
</main>
{script}
</body>
</html>
"""

_NOT_BUILT = (
    '<p class="warning">The widget is not built yet: run <code>make widget</code> '
    "(or <code>npm ci &amp;&amp; npm run build</code> in <code>widget/</code>) and reload.</p>"
)


def server_origins(host: str, port: int) -> tuple[str, ...]:
    """The origins a browser shows for this server: the demo widget is allowed on exactly these."""
    if host in ("0.0.0.0", "127.0.0.1", "localhost", "") or ":" in host:  # noqa: S104 - compared, not bound
        return (f"http://localhost:{port}", f"http://127.0.0.1:{port}")
    return (f"http://{host}:{port}",)


def snippet(base_url: str, widget_id: str) -> str:
    # The base URL comes from the request's Host header: escaped, it cannot leave the attribute.
    source = html.escape(f"{base_url}/widget/loader.js", quote=True)
    return f'<script src="{source}" data-widget-id="{html.escape(widget_id, quote=True)}" async></script>'


def demo_page(widget_id: str) -> HTTPRouteHandler:
    @get("/demo", include_in_schema=False, name="webchat_demo", media_type=MediaType.HTML)
    async def demo(request: Request[Any, Any, Any], assets: FromDishka[WidgetAssets]) -> Response[str]:
        base_url = str(request.base_url).rstrip("/")
        tag = snippet(base_url, widget_id)
        page = _PAGE.format(
            warning="" if assets.loader() is not None else _NOT_BUILT,
            snippet=html.escape(tag),
            script=tag,
        )
        return Response(page, media_type=MediaType.HTML, headers={"Cache-Control": "no-store"})

    return demo
