"""The dashboard's JSON API, which the pages' forms post to as well: a form is answered with a redirect back to
its page, which shows what happened (a notice this process made); JSON with the thread and the message. Errors
are ``{"error": "one line"}`` with the status the gate gives every library error."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from publisher.dashboard.actions import ACTIONS
from publisher.dashboard.board import Dashboard, board_of
from publisher.dashboard.gate import is_form
from publisher.dashboard.packs import start_pack
from publisher.dashboard.pages import thread_id_of, threads_data
from publisher.errors import BadArgument, NotFound, PublisherError

BAD_BODY = "the body is neither a JSON object nor a form"


async def form_or_json(request: Request) -> dict[str, str] | None:
    """The request's form or JSON object, as text values; None when the body is neither (a 400)."""
    from urllib.parse import parse_qs

    body = await request.body()
    if is_form(request):
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


def safe_next(value: object, default: str) -> str:
    """Where a form asks to go back to: a path on this dashboard, never another site (``//evil.example``)."""
    text = str(value or "")
    plain = all(c.isascii() and c.isprintable() and c not in " \\" for c in text)  # a browser drops a tab: "/\t/x"
    return text if plain and text.startswith("/") and not text.startswith("//") else default


def _back(path: str, notice: str) -> Response:
    return RedirectResponse(f"{path}{'&' if '?' in path else '?'}notice={notice}", 303)


async def _change(request: Request, default_back: str, work: Callable[[dict[str, str]], tuple[dict[str, Any], str]],
                  status: int = 200) -> Response:
    """Do one change; answer a form with a redirect back (its notice saying what happened or why not), JSON
    with the thread and the message."""
    board = board_of(request)
    form = await form_or_json(request)
    back = safe_next((form or {}).get("next"), default_back)
    try:
        if form is None:
            raise BadArgument(BAD_BODY)
        data, said = await run_in_threadpool(work, form)
    except PublisherError as exc:
        if is_form(request):
            return _back(back, board.notice("bad", "; ".join(exc.lines())))
        raise
    notice = board.notice("ok", said)
    if is_form(request):
        return _back(back, notice)
    return JSONResponse({**data, "message": said, "notice": notice}, status)


def thread_answer(board: Dashboard, thread_id: int) -> dict[str, Any]:
    with board.current().queue(create=False) as q:
        thread = q.thread(thread_id)
        problem = getattr(q, "config_problem", None)
        collection = None if problem else q.collections_by_campaign().get(thread.campaign)
        return dict(q.thread_json(thread, collection, shown=True))


async def api_threads(request: Request) -> Response:
    show_all = request.query_params.get("all") == "1"
    return JSONResponse(await run_in_threadpool(threads_data, board_of(request), show_all))


async def api_thread(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(thread_answer, board_of(request), thread_id_of(request)))


async def api_action(request: Request) -> Response:
    board = board_of(request)
    thread_id = thread_id_of(request)
    action = str(request.path_params["action"])

    def act(form: dict[str, str]) -> tuple[dict[str, Any], str]:
        if action not in ACTIONS:
            raise NotFound(f'no action "{action[:40]}" (one of: {", ".join(ACTIONS)})')
        with board.current().queue() as q:
            said = ACTIONS[action](q, thread_id, form, board.user)
        board.on_change()
        return thread_answer(board, thread_id), said.text()

    return await _change(request, f"/threads/{thread_id}", act)


async def api_queue(request: Request) -> Response:
    board = board_of(request)

    def add(form: dict[str, str]) -> tuple[dict[str, Any], str]:
        from publisher import messages

        now = str(form.get("now", "")).lower() in ("1", "true", "on", "yes")
        added = board.current().queue_add(form.get("campaign") or None, now=now)
        with board.current().queue(create=False) as q:
            data = dict(q.thread_json(added.thread))
            zone = q.zone(added.thread.campaign)
        board.on_change()
        return data, messages.queued(added, zone, now).text()

    return await _change(request, "/", add, status=201)


async def api_packs_start(request: Request) -> Response:
    board = board_of(request)
    form = await form_or_json(request)
    try:
        if form is None:
            raise BadArgument(BAD_BODY)
        job = await run_in_threadpool(start_pack, board, form)
    except PublisherError as exc:
        if is_form(request):
            return _back("/packs", board.notice("bad", "; ".join(exc.lines())))
        raise
    if is_form(request):
        return RedirectResponse(f"/packs?job={job.id}", 303)
    return JSONResponse(job.as_json(), 202)


async def api_pack(request: Request) -> Response:
    job = board_of(request).jobs.get(str(request.path_params["job"]))
    if job is None:
        raise NotFound("no such pack")
    return JSONResponse(job.as_json())
