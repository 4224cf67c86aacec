"""The operator dashboard: static files (dashboard/) that call the public REST API with the operator's key."""

from __future__ import annotations

from pathlib import Path

from litestar import Router, get
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

DASHBOARD_DIR = Path(__file__).resolve().parents[4] / "dashboard"


@get("/", include_in_schema=False)
async def root() -> Redirect:
    return Redirect("/dashboard/")


def dashboard_router() -> Router:
    return create_static_files_router(
        path="/dashboard", directories=[DASHBOARD_DIR], html_mode=True, include_in_schema=False, name="dashboard"
    )
