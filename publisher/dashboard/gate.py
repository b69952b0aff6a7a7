"""The dashboard's gate, in front of every route: who may ask, and which answer every failure gets.

- The ``Host`` must be the dashboard's own address (or its --public-url's), against DNS rebinding.
- Every request needs the token: the cookie the first visit sets (from the printed link's ``?token=``, or a
  one-time code the browser was sent), or ``Authorization: Bearer TOKEN``.
- A change (POST) also needs the CSRF token the pages carry (or the Bearer header), and one from another site is
  refused whatever it carries. Forwarded headers are never read: any local process can send them.
- Every answer, errors included, is a page or JSON with its reason and the same security headers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from publisher.dashboard.board import COOKIE, Dashboard, board_of, same, secured, status_for
from publisher.errors import PublisherError
from publisher.text import terminal_safe

PUBLIC = ("/static/dashboard.css", "/favicon.ico")  # the refusal pages use them

log = logging.getLogger("publisher.dashboard")


async def gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    board = board_of(request)
    try:
        refused = await _refusal(board, request)
        if refused is not None:
            return secured(refused)
        response = await call_next(request)
    except PublisherError as exc:
        response = board.answer(request, status_for(exc), "; ".join(exc.lines()))
    except Exception as exc:  # a bug: said in one line, with the same headers; the traceback goes to the log
        log.error("the dashboard failed on %s %s", request.method, terminal_safe(request.scope["path"]),
                  exc_info=exc)
        response = board.answer(request, 500, f"unexpected {type(exc).__name__}: the dashboard's output (its log) "
                                              "has the details; please report it")
    return secured(response, preview=request.url.path.startswith("/preview/") and response.status_code < 400)


async def _refusal(board: Dashboard, request: Request) -> Response | None:
    """The answer that stops this request at the gate, or None to let it through."""
    host = request.headers.get("host", "")
    if board.allowed_hosts is not None and host not in board.allowed_hosts:
        return board.answer(request, 403, "this dashboard answers only at the address publisher serve printed",
                            signed_in=False)
    if request.method in ("GET", "HEAD") and request.url.path in PUBLIC:
        return None
    token = request.query_params.get("token")
    if request.method == "GET" and token is not None:
        return _sign_in(board, request, token)
    bearer = _bearer(board, request)
    if not (bearer or same(request.cookies.get(COOKIE, ""), board.token)):
        if COOKIE in request.cookies:
            return board.answer(request, 401, "publisher serve was restarted since this page was opened, and each "
                                              "start makes a new token: open the link it printed last",
                                signed_in=False)
        return board.answer(request, 401, "open the link publisher serve printed (it carries the token), or send "
                                          "Authorization: Bearer TOKEN", signed_in=False)
    if request.method not in ("GET", "HEAD"):
        if _cross_site(board, request):
            return board.answer(request, 403, "a request from another site is refused")
        if not bearer and not await _csrf_ok(board, request):
            return board.answer(request, 403, "the form's CSRF token is missing or wrong: reload the page and try "
                                              "again (scripts: send Authorization: Bearer TOKEN)")
    return None


def _sign_in(board: Dashboard, request: Request, token: str) -> Response:
    """The link's token (or one-time code) becomes the cookie, and the address loses it. The answer is a page
    that moves on by itself: the next request then comes from the dashboard's own page, so the browser sends
    the SameSite=Strict cookie even when the link was opened from another site or a file."""
    if not (board.take_code(token) or same(token, board.token)):
        return board.answer(request, 401, "that link's token is not this dashboard's (each start of publisher "
                                          "serve makes a new one: use the link it printed last)", signed_in=False)
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    path = quote(request.scope["path"])  # encoded: a browser drops a raw tab, so "/<TAB>/evil.example" leads away
    path = path if not path.startswith("//") else "/"
    target = path + (f"?{urlencode(rest)}" if rest else "")
    response = board.render("signed_in.html", request, title="Signed in", target=target, signed_in=False)
    if "text/html" not in request.headers.get("accept", ""):
        response = RedirectResponse(target, 303)  # a script following the link
    response.set_cookie(COOKIE, board.token, httponly=True, samesite="strict", path="/",
                        secure=board.through_proxy(request.headers.get("host", "")))
    return response


def _bearer(board: Dashboard, request: Request) -> bool:
    header = request.headers.get("authorization", "")
    return header.startswith("Bearer ") and same(header[7:].strip(), board.token)


def _cross_site(board: Dashboard, request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    return origin is not None and origin not in board.origins(request.headers.get("host", ""))


async def _csrf_ok(board: Dashboard, request: Request) -> bool:
    sent = request.headers.get("x-csrf-token")
    if sent is None and is_form(request):
        sent = parse_qs((await request.body()).decode("utf-8", "replace")).get("csrf", [""])[0]
    return sent is not None and same(sent, board.csrf)


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("application/x-www-form-urlencoded")
