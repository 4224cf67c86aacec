"""The operator dashboard is served by the API itself, so `make run` brings it up with everything else."""

from __future__ import annotations

from tests.support.api import Client


async def test_dashboard_is_served_and_the_root_points_to_it(client: Client) -> None:
    root = await client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307)
    assert root.headers["location"].endswith("/dashboard/")

    page = await client.get("/dashboard/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="app.js">' in page.text

    script = await client.get("/dashboard/app.js")
    assert script.status_code == 200
    # The dashboard only talks to the public API, with the operator's key.
    assert "Authorization: `Bearer ${apiKey}`" in script.text
    assert (await client.get("/dashboard/../pyproject.toml")).status_code == 404
