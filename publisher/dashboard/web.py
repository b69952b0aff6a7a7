"""The dashboard's pages and JSON API (Starlette), over ``publisher.app.Project``.

Every request needs the token ``publisher serve`` printed: the cookie the first visit sets from ``?token=``, or
``Authorization: Bearer TOKEN``. A request that changes anything also needs the CSRF token the pages carry (or
the Bearer header), and one from another site is refused whatever it carries.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from publisher.app import Project
from publisher.errors import BadArgument, NotFound, NothingToQueue, PublisherError, WrongState
from publisher.fileio import file_stamp

COOKIE = "publisher_token"
ACTIONS = ("approve", "reject", "hold", "release", "cancel", "retry", "recompose")
SHA256 = re.compile(r"[0-9a-f]{64}")
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
# The preview is a page of its own (styles inline, its fonts beside it): shown as it is, but still no scripts.
PREVIEW_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
               "script-src 'none'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'")


@dataclass
class PackJob:
    id: str
    name: str
    total: int
    done: int = 0
    state: str = "running"  # running, done, failed
    file: Path | None = None
    error: str = ""
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "state": self.state, "done": self.done, "total": self.total,
                "download": f"/packs/{self.id}/{self.file.name}" if self.file and self.state == "done" else None,
                "error": self.error or None}


class Dashboard:
    """What one ``publisher serve`` process knows: the project, its token, who signs off, the pack jobs."""

    def __init__(self, project: Project, token: str, user: str, allowed_hosts: set[str] | None,
                 on_change: Callable[[], None] = lambda: None):
        self._project = project
        self._stamp = file_stamp(project.files.config_path)
        self._project_lock = threading.Lock()
        self.on_change = on_change  # with run --serve: the daemon looks for due threads at once
        self.stopping = threading.Event()  # set when the server stops: a pack being made stops too
        self.open_codes: set[str] = set()  # one-time links for the browser publisher serve opens
        self.token = token
        self.csrf = hmac.new(token.encode(), b"publisher csrf", hashlib.sha256).hexdigest()
        self.user = user
        self.allowed_hosts = allowed_hosts  # None: any (--allow-remote)
        self.jobs: dict[str, PackJob] = {}
        self.work_dir = project.files.schedule().state_dir / "dashboard"
        _clear_old_packs(self.work_dir / "packs")
        self.templates = Environment(loader=PackageLoader("publisher.dashboard", "templates"),
                                     autoescape=select_autoescape(default=True, default_for_string=True))

    def current(self) -> Project:
        """The project as schedule.toml says now: an edit (approval = true, say) counts from the next request,
        as it does for the daemon."""
        stamp = file_stamp(self._project.files.config_path)
        with self._project_lock:
            if stamp != self._stamp:
                self._project, self._stamp = Project(self._project.files.config_path, self._project.now), stamp
            return self._project

    def one_time_link(self, base: str) -> str:
        """A link for the browser publisher serve opens: its code works once, so the token itself never appears
        on a command line other users can read (ps)."""
        code = secrets.token_urlsafe(24)
        self.open_codes.add(code)
        return f"{base}/?token={code}"

    # -- the gate ------------------------------------------------------------------------------------------

    def _bearer(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and _same(header[7:].strip(), self.token)

    def _cookie(self, request: Request) -> bool:
        return _same(request.cookies.get(COOKIE, ""), self.token)

    def _cross_site(self, request: Request) -> bool:
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return True
        origin = request.headers.get("origin")
        return origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host', '')}"

    async def gate(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if self.allowed_hosts is not None and request.headers.get("host", "") not in self.allowed_hosts:
            return self._refuse(request, 403, "this dashboard answers only at the address publisher serve printed")
        if request.method in ("GET", "HEAD") and request.url.path in PUBLIC:
            return self._secured(await call_next(request))  # the style sheet and icon: the refusal pages use them
        token = request.query_params.get("token")
        if request.method == "GET" and token is not None:
            once = token in self.open_codes
            self.open_codes.discard(token)
            if not once and not _same(token, self.token):
                return self._refuse(request, 401, "that link's token is not this dashboard's (each start of "
                                                  "publisher serve makes a new one: use the link it printed last)")
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            path = request.url.path if not request.url.path.startswith("//") else "/"
            response: Response = RedirectResponse(path + (f"?{urlencode(rest)}" if rest else ""), 303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
            return self._secured(response)
        bearer, cookie = self._bearer(request), self._cookie(request)
        if not (bearer or cookie):
            if COOKIE in request.cookies:
                return self._refuse(request, 401, "publisher serve was restarted since this page was opened, and "
                                                  "each start makes a new token: open the link it printed last")
            return self._refuse(request, 401, "open the link publisher serve printed (it carries the token), or "
                                              "send Authorization: Bearer TOKEN")
        if request.method not in ("GET", "HEAD"):
            if self._cross_site(request):
                return self._refuse(request, 403, "a request from another site is refused")
            if not bearer and not await self._csrf_ok(request):
                return self._refuse(request, 403, "the form's CSRF token is missing or wrong: reload the page and "
                                                  "try again (scripts: send Authorization: Bearer TOKEN)")
        return self._secured(await call_next(request), preview=request.url.path.startswith("/preview/"))

    async def _csrf_ok(self, request: Request) -> bool:
        sent = request.headers.get("x-csrf-token")
        if sent is None and is_form(request):
            sent = parse_qs((await request.body()).decode("utf-8", "replace")).get("csrf", [""])[0]
        return sent is not None and _same(sent, self.csrf)

    def _refuse(self, request: Request, status: int, why: str) -> Response:
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
            return self._secured(JSONResponse({"error": why}, status))
        return self._secured(self.render("denied.html", request, status=status, why=why, code=status,
                                         title="Not allowed", signed_in=False))

    @staticmethod
    def _secured(response: Response, preview: bool = False) -> Response:
        response.headers["Content-Security-Policy"] = PREVIEW_CSP if preview else PAGE_CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        # The first visit's address carries the token: never sent elsewhere. (no-referrer would make the browser
        # send "Origin: null" with the pages' own forms, which the cross-site check must refuse.)
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    # -- rendering -----------------------------------------------------------------------------------------

    def render(self, name: str, request: Request, status: int = 200, **context: Any) -> Response:
        context.setdefault("signed_in", True)
        page = self.templates.get_template(name).render(
            request=request, csrf=self.csrf, user=self.user, path=request.url.path,
            message=request.query_params.get("message", ""), error=request.query_params.get("error", ""),
            **context)
        return Response(page, status, media_type="text/html; charset=utf-8")


def create_app(project: Project, token: str | None = None, user: str = "someone",
               allowed_hosts: set[str] | None = None,
               on_change: Callable[[], None] = lambda: None) -> tuple[Starlette, Dashboard]:
    board = Dashboard(project, token or secrets.token_urlsafe(24), user, allowed_hosts, on_change)
    from publisher.dashboard import pages

    routes = [Route(path, endpoint, methods=methods) for path, endpoint, methods in pages.routes(board)]
    async def not_there(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        why = "no such page" if status == 404 else f"{request.method} is not allowed here"
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"error": why}, status)
        return board.render("denied.html", request, status=status, why=why, code=status, title="Not found")

    app = Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=board.gate)],
                    exception_handlers={404: not_there, 405: not_there})
    return app, board


def result_or_error(call: Callable[[], Any]) -> tuple[Any, int, str]:
    """Run a queue action: (its result, 200, "") or (None, the HTTP status for its error, the one-line reason)."""
    try:
        return call(), 200, ""
    except NotFound as exc:
        return None, 404, exc.lines()[0]
    except (WrongState, NothingToQueue) as exc:
        return None, 409, exc.lines()[0]
    except BadArgument as exc:
        return None, 400, exc.lines()[0]
    except PublisherError as exc:
        return None, 409, exc.lines()[0]


def static_file(name: str) -> FileResponse:
    from importlib import resources

    folder = resources.files("publisher.dashboard") / "static"
    assert isinstance(folder, Path)
    return FileResponse(folder / name, headers={"Cache-Control": "no-cache"})


PACK_LOCK = threading.Lock()  # one pack at a time: two would share two cores and both be slow
PUBLIC = ("/static/dashboard.css", "/favicon.ico")


def _same(given: str, secret: str) -> bool:
    """A constant-time comparison that also takes text no token has (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode())


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("application/x-www-form-urlencoded")


def safe_next(value: object, default: str) -> str:
    """Where a form asks to go back to: a path on this dashboard, never another site (``//evil.example``)."""
    text = str(value or "")
    return text if text.startswith("/") and not text.startswith(("//", "/\\")) else default


def _clear_old_packs(folder: Path) -> None:
    """Packs made by an earlier run of the dashboard: their jobs are gone, so nobody can download them."""
    import shutil

    if folder.is_dir():
        for job in folder.iterdir():
            if job.is_dir() and re.fullmatch(r"[0-9a-f]{16}", job.name):
                shutil.rmtree(job, ignore_errors=True)
