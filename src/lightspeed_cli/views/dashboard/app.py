"""The dashboard's starlette app: the token gate, the host gate, the pages, /metrics, controls.

Gates, in order: a request from another host than the bound one is 403 (unless the user bound
a non-loopback address: then any client may try, each with the token); a Host header that is
not the bound address is 403 too (DNS rebinding); no or a wrong token is 401. The token comes as
`?token=` once (traded for an HttpOnly SameSite=Strict cookie, then redirected away from the
URL) or as `Authorization: Bearer` (Prometheus). Controls need the control token, a POST with
the command repeated as confirmation, and a same-origin request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.views.dashboard import data, metrics, pages
from lightspeed_cli.views.dashboard.tokens import Role, Tokens
from lightspeed_cli.views.target import target_data

COOKIE = "lightspeed_dashboard"
MAX_FORM_BYTES = 1024
Actor = Callable[[str], Awaitable[tuple[bool, str]]]  # the control door: command -> (ok, said)


@dataclass
class DashboardContext:
    settings: Settings
    paper: bool
    journal_path: Path
    tokens: Tokens
    host: str  # the address bound
    license_info: Callable[[], dict[str, Any]]
    opens: Callable[[], str]  # whether opens are paused, said
    act: Actor | None = None  # None: no controls (read-only dashboard)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_problem(ctx: DashboardContext, request: Request) -> str | None:
    if not is_loopback(ctx.host):
        return None  # bound to another address on purpose: the token alone guards it
    client = request.client.host if request.client else ""
    if not is_loopback(client):
        return "this dashboard only answers this machine (bind another address to change that)"
    host = urlsplit("//" + request.headers.get("host", "")).hostname or ""
    if not is_loopback(host):
        return "unexpected Host header"
    return None


def _presented(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("token") or request.cookies.get(COOKIE)


def create_app(ctx: DashboardContext) -> Starlette:
    def page(request: Request, title: str, body: str, here: str, traders: list[str]) -> Response:
        control = ctx.act is not None and request.state.role is Role.CONTROL
        return HTMLResponse(pages.layout(title, body, traders=traders, here=here, control=control))

    def _overview(request: Request) -> Response:
        now = data.utcnow()
        with data.open_journal(ctx.journal_path) as journal:
            if journal is None:
                return page(
                    request, "Overview", pages.no_journal_body(str(ctx.journal_path)), "/", []
                )
            facts = data.overview(journal, ctx.settings, ctx.license_info(), now)
            traders = data.known_traders(journal, ctx.settings)
        body = pages.overview_body(facts, target_data(ctx.settings, ctx.paper), ctx.opens(), now)
        return page(request, "Overview", body, "/", traders)

    def _trader(request: Request) -> Response:
        trader = request.path_params["trader"]
        with data.open_journal(ctx.journal_path) as journal:
            traders = data.known_traders(journal, ctx.settings) if journal else []
            if journal is None or trader not in traders:
                return HTMLResponse(pages.message_page("Not found", "no such trader"), 404)
            trader_page = data.trader_page(journal, ctx.settings, trader)
        title = f"{trader} {trader_page.label}".strip()
        return page(request, title, pages.trader_body(trader_page), request.url.path, traders)

    def _metrics(_: Request) -> Response:
        now = data.utcnow()
        with data.open_journal(ctx.journal_path) as journal:
            if journal is None:
                return Response(b"", media_type="text/plain; version=0.0.4")
            facts = metrics.metric_facts(
                data.overview(journal, ctx.settings, {}, now),
                journal.history(limit=data.HISTORY_LIMIT * 5),
                journal.recent_events(metrics.EVENT_LIMIT),
            )
        return Response(metrics.render(facts), media_type="text/plain; version=0.0.4")

    async def overview(request: Request) -> Response:
        return await run_in_threadpool(_overview, request)

    async def trader(request: Request) -> Response:
        return await run_in_threadpool(_trader, request)

    async def metrics_route(request: Request) -> Response:
        return await run_in_threadpool(_metrics, request)

    def _refused(request: Request) -> Response | None:
        if ctx.act is None:
            return HTMLResponse(
                pages.message_page(
                    "Controls off",
                    "this dashboard is read-only:"
                    " start it with --control to steer the bot from here",
                ),
                403,
            )
        if request.state.role is not Role.CONTROL:
            return HTMLResponse(
                pages.message_page(
                    "Not allowed",
                    "the read-only token cannot"
                    " steer the bot: open the dashboard with the control token",
                ),
                403,
            )
        return None

    async def control(request: Request) -> Response:
        refused = _refused(request)
        if refused is not None:
            return refused
        return page(request, "Controls", pages.control_body(ctx.opens()), "/control", [])

    async def command(request: Request) -> Response:
        refused = _refused(request)
        name = request.path_params["command"]
        if refused is not None:
            return refused
        if name not in pages.COMMANDS:
            return HTMLResponse(pages.message_page("Not found", "no such command"), 404)
        if request.method == "GET":
            return page(request, "Confirm", pages.confirm_body(name), "/control", [])
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            return HTMLResponse(pages.message_page("Not allowed", "cross-site request"), 403)
        body = await request.body()  # a urlencoded form of one field (no python-multipart)
        form = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
        if form.get("confirm") != [name]:
            return HTMLResponse(pages.message_page("Not confirmed", "nothing was done"), 400)
        assert ctx.act is not None
        ok, text = await ctx.act(name)
        return page(request, "Controls", pages.result_body(ok, text), "/control", [])

    async def gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Any:
        problem = _host_problem(ctx, request)
        if problem:
            return HTMLResponse(pages.message_page("Refused", problem), 403)
        presented = _presented(request)
        role = ctx.tokens.role(presented)
        if role is None:
            return HTMLResponse(
                pages.message_page(
                    "Token needed",
                    "open the link `lightspeed dashboard` printed"
                    " (the token is kept in the data dir)",
                ),
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if "token" in request.query_params and request.method == "GET":
            # trade the URL's token for a cookie, and drop it from the address bar and history
            response = RedirectResponse(request.url.remove_query_params("token"), 303)
            response.set_cookie(COOKIE, presented or "", httponly=True, samesite="strict")
            return response
        request.state.role = role
        response = await call_next(request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'"
        )
        return response

    return Starlette(
        routes=[
            Route("/", overview),
            Route("/trader/{trader}", trader),
            Route("/metrics", metrics_route),
            Route("/control", control),
            Route("/control/{command}", command, methods=["GET", "POST"]),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=gate)],
    )
