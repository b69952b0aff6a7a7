"""What one dashboard process knows, shared by its gate, pages and API: the project as schedule.toml says now, the
token and what is derived from it, who signs off, the pack jobs, the notices its pages may show, its work folder,
and how it answers (a page or JSON, always with the same security headers).

Endpoints find it on the application: ``board_of(request)``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from publisher.app import Project
from publisher.dashboard.workdir import UnsafeFolder, WorkFolder
from publisher.errors import BadArgument, ExitStatus, NotFound, PublisherError
from publisher.fileio import file_stamp

COOKIE = "publisher_token"
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
# The preview is a page of its own (styles inline, its fonts beside it): shown as it is, but still no scripts.
PREVIEW_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
               "script-src 'none'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'")
# Render workers (packs, previews) are started by a fork server: a fork of this threaded server would copy other
# threads' locks mid-use. The fork server is one clean process, started once, with the renderer imported.
WORKER_START_METHOD = "forkserver"
NOTICES_KEPT = 500  # the latest notices a page can still show (each action makes one)
HEADINGS = {400: "Not understood", 401: "This dashboard needs its link", 403: "Not allowed", 404: "Not found",
            405: "Not allowed", 409: "Not done", 422: "Cannot be made", 500: "Something went wrong",
            503: "Cannot be shown now"}


@dataclass
class PackJob:
    id: str
    name: str
    total: int
    start_method: str  # how its render workers were started (a threaded server must not fork)
    done: int = 0
    state: str = "running"  # running, done, failed
    file: Path | None = None
    error: str = ""
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        ready = self.file is not None and self.state == "done" and self.file.is_file()
        return {"id": self.id, "name": self.name, "state": self.state if ready or self.state != "done" else "removed",
                "done": self.done, "total": self.total, "start_method": self.start_method,
                "download": f"/packs/{self.id}/{self.file.name}" if ready and self.file else None,
                "error": self.error or None}


@dataclass(frozen=True)
class Notice:
    """A line a page shows after an action: only ones this process made, found by their random id."""

    kind: str  # "ok" or "bad"
    text: str


class Dashboard:
    """One dashboard process: ``publisher serve``, or ``publisher run --serve``'s."""

    def __init__(self, project: Project, token: str, user: str, allowed_hosts: set[str] | None,
                 on_change: Callable[[], None] = lambda: None, public_origin: str | None = None):
        self._project = project
        self._stamp = file_stamp(project.files.config_path)
        self._project_lock = threading.Lock()
        self.on_change = on_change  # with run --serve: the daemon looks for due threads at once
        self.stopping = threading.Event()  # set when the server stops: a pack being made stops too
        self.token = token
        self.csrf = hmac.new(token.encode(), b"publisher csrf", hashlib.sha256).hexdigest()
        self.user = user
        self.allowed_hosts = allowed_hosts  # None: any (--allow-remote)
        self.public_origin = public_origin  # https://... that an HTTPS proxy serves the dashboard at, if any
        self.jobs: dict[str, PackJob] = {}
        self.preview_lock = threading.Lock()  # one preview written at a time: they share their folder
        self._open_codes: set[str] = set()
        self._notices: OrderedDict[str, Notice] = OrderedDict()
        self.work = WorkFolder(project.files.store_path().parent)
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

    def schedule_problem(self) -> str | None:
        """Why schedule.toml cannot be read now (file:line and the fix), or None."""
        try:
            self.current().files.schedule()
        except PublisherError as exc:
            return "; ".join(exc.lines())
        return None

    def close(self) -> None:
        self.work.close()

    # -- the way in ----------------------------------------------------------------------------------------

    def browser_file(self, base: str) -> Path:
        """The owner-only file to open the browser on: it forwards to a link whose code works once."""
        code = secrets.token_urlsafe(24)
        self._open_codes.add(code)
        return self.work.forward(f"{base}/?token={code}")

    def take_code(self, code: str) -> bool:
        """Whether ``code`` is a one-time code not used yet (it is used now)."""
        if code not in self._open_codes:
            return False
        self._open_codes.discard(code)
        self.work.forget_forward()
        return True

    def origins(self, host: str) -> set[str]:
        """The origins a change may come from, for a request to ``host``: the dashboard's own address as the
        server sees it (plain HTTP), and the public HTTPS address a proxy serves it at (--public-url). Forwarded
        headers are never read: any local process could send them."""
        public = {self.public_origin} if self.public_origin else set()
        return public if self.through_proxy(host) else public | {f"http://{host}"}

    def through_proxy(self, host: str) -> bool:
        """Whether a request came by the --public-url's host (an HTTPS proxy passing its Host on): its cookie is
        then Secure, and only its https origin may make changes."""
        return self.public_origin is not None and host == self.public_origin.partition("://")[2]

    # -- notices -------------------------------------------------------------------------------------------

    def notice(self, kind: str, text: str) -> str:
        """Keep a line for the next page to show; its id goes in that page's address (``?notice=ID``)."""
        key = secrets.token_urlsafe(12)
        self._notices[key] = Notice(kind, text)
        while len(self._notices) > NOTICES_KEPT:
            self._notices.popitem(last=False)
        return key

    def shown_notice(self, request: Request) -> Notice | None:
        return self._notices.get(request.query_params.get("notice", ""))

    # -- answers -------------------------------------------------------------------------------------------

    def render(self, name: str, request: Request, status: int = 200, **context: Any) -> Response:
        """A page, with this dashboard's user, CSRF token, any notice it made, and a banner when schedule.toml
        cannot be read."""
        signed_in = context.setdefault("signed_in", True)
        if signed_in and "problem" not in context:
            context["problem"] = self.schedule_problem()
        page = self.templates.get_template(name).render(
            request=request, csrf=self.csrf, user=self.user, path=request.url.path,
            notice=self.shown_notice(request) if signed_in else None, **context)
        return secured(Response(page, status, media_type="text/html; charset=utf-8"))

    def answer(self, request: Request, status: int, why: str, signed_in: bool = True) -> Response:
        """An error answer: JSON ``{"error": why}`` for the API and scripts, else a page saying why."""
        if wants_json(request):
            return secured(JSONResponse({"error": why}, status))
        return self.render("denied.html", request, status=status, why=why, code=status, signed_in=signed_in,
                           title=HEADINGS.get(status, "Not done"), problem=None)


def board_of(request: Request) -> Dashboard:
    return cast(Dashboard, request.app.state.board)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", "")


def status_for(exc: PublisherError) -> int:
    """The HTTP status for a library error: what the CLI's exit status says, in HTTP's words."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, BadArgument):
        return 400
    if isinstance(exc, UnsafeFolder):
        return 403
    return {ExitStatus.WRONG_STATE: 409, ExitStatus.NOTHING_TO_QUEUE: 409, ExitStatus.CONFIG: 503,
            ExitStatus.ENVIRONMENT: 503, ExitStatus.BUSY: 503, ExitStatus.FILE: 503,
            ExitStatus.STORE: 503}.get(exc.exit_status, 422)


def secured(response: Response, preview: bool = False) -> Response:
    """The headers every answer carries, error answers included."""
    response.headers["Content-Security-Policy"] = PREVIEW_CSP if preview else PAGE_CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The first visit's address carries the token: never sent elsewhere. (no-referrer would make the browser
    # send "Origin: null" with the pages' own forms, which the cross-site check must refuse.)
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def same(given: str, secret: str) -> bool:
    """A constant-time comparison that also takes text no token has (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode())
