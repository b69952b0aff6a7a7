"""The dashboard as one Starlette application: its routes (pages and JSON API), behind the gate.

The modules point one way: web → gate, pages, api → board → workdir, and all of them over ``publisher.app`` and the
queue service the CLI calls too. See ``gate`` for who may ask, ``board`` for what the process keeps.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from publisher.app import Project
from publisher.dashboard import api, pages, results
from publisher.dashboard.board import Dashboard, board_of
from publisher.dashboard.gate import gate

ROUTES = [
    Route("/", pages.upcoming, methods=["GET"]),
    Route("/queue", pages.queue_page, methods=["GET"]),
    Route("/threads/{thread_id}", pages.thread_page, methods=["GET"]),
    Route("/images/{digest}.png", pages.image, methods=["GET"]),
    Route("/cards", pages.cards, methods=["GET"]),
    Route("/cards/card.png", pages.card_png, methods=["GET"]),
    Route("/packs", pages.packs, methods=["GET"]),
    Route("/packs/{job}/{name}", pages.pack_download, methods=["GET"]),
    Route("/log", pages.log_page, methods=["GET"]),
    Route("/results", results.results_page, methods=["GET"]),
    Route("/results.csv", results.results_csv, methods=["GET"]),
    Route("/results/quote/{quote_id}", results.quote_page, methods=["GET"]),
    Route("/preview/{campaign}/", pages.preview, methods=["GET"]),
    Route("/preview/{campaign}/{rest:path}", pages.preview, methods=["GET"]),
    Route("/static/dashboard.css", pages.css, methods=["GET"]),
    Route("/static/dashboard.js", pages.js, methods=["GET"]),
    Route("/favicon.ico", pages.icon, methods=["GET"]),
    Route("/api/threads", api.api_threads, methods=["GET"]),
    Route("/api/threads/{thread_id}", api.api_thread, methods=["GET"]),
    Route("/api/threads/{thread_id}/{action}", api.api_action, methods=["POST"]),
    Route("/api/queue", api.api_queue, methods=["POST"]),
    Route("/api/packs", api.api_packs_start, methods=["POST"]),
    Route("/api/packs/{job}", api.api_pack, methods=["GET"]),
]


async def _no_route(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    why = {404: "no such page", 405: f"{request.method} is not allowed here"}.get(status, "not understood")
    return board_of(request).answer(request, status, why)


def create_app(project: Project, token: str | None = None, user: str = "someone",
               allowed_hosts: set[str] | None = None, on_change: Callable[[], None] = lambda: None,
               public_origin: str | None = None) -> tuple[Starlette, Dashboard]:
    """The application and its board (whose ``close`` removes the work folder when the server stops)."""
    board = Dashboard(project, token or secrets.token_urlsafe(24), user, allowed_hosts, on_change, public_origin)
    app = Starlette(routes=ROUTES, middleware=[Middleware(BaseHTTPMiddleware, dispatch=gate)],
                    exception_handlers={HTTPException: _no_route})
    app.state.board = board
    return app, board
