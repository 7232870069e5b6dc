"""The dashboard: one static page and its script and style, all served from this origin.

The page asks for a token once and keeps it in ``sessionStorage`` (gone when the tab
closes), sending it as a Bearer header like any client; the strict Content-Security-Policy
set by the middleware allows only these files, so no inline or third-party script runs.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

router = APIRouter(include_in_schema=False)

_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}


@cache
def _read(name: str) -> bytes:
    return resources.files("privet.server").joinpath("static", name).read_bytes()


def _file(name: str) -> Response:
    return Response(_read(name), media_type=_FILES[name])


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard")
def dashboard_bare() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard/")
def dashboard() -> Response:
    return _file("index.html")


@router.get("/dashboard/app.js")
def script() -> Response:
    return _file("app.js")


@router.get("/dashboard/app.css")
def style() -> Response:
    return _file("app.css")
