"""The HTTP and WebSocket API of one node, and the web map it serves.

:func:`create_app` builds a FastAPI app over a :class:`~kizuna.interfaces.api.view.NodeView`.
Every request carries a bearer token bound to this node (:mod:`kizuna.interfaces.api.auth`);
every product that leaves, by REST or WebSocket, first passes
:func:`kizuna.interfaces.api.release.releasable` for the token's node, so a product the
agreement keeps from this node never reaches its operators even if it reached the view.

Routes (all under ``/api/v1`` need a token; ``/healthz`` and the page's static files do not,
and the page shows nothing until it has a token):

``GET /api/v1/{tracks,predictions,alerts}``           current picture (latest version each)
``GET /api/v1/{tracks,predictions,alerts}/history``   every version, ``since``/``until``/``limit``
``GET /api/v1/whoami``, ``/agreement``, ``/command``  the token, the agreement, the command
                                                      structure in force (``at``)
``GET /api/v1/clock``                                 data time; for a replay the scenario
                                                      clock, its speed and its lag
``GET /api/v1/geo/{regions,coastline}``               the map's shipped geography (GeoJSON)
``POST /api/v1/reports``                              a report (operators only)
``GET /metrics``                                      Prometheus text format
``WS /ws``                                            live products (see :func:`_websocket`)
"""

# No `from __future__ import annotations` here: FastAPI reads the route signatures' annotations
# at run time, and the locally defined `Viewer` dependency type must be a real object.
import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict
from starlette.websockets import WebSocketDisconnect, WebSocketState

from kizuna import __version__
from kizuna.contract import (
    AlertProduct,
    PredictionProduct,
    TrackProduct,
    parse_report,
)
from kizuna.errors import InputError
from kizuna.interfaces.api.auth import (
    AuthError,
    Principal,
    load_or_create_key,
    node_data_dir,
    verify_token,
)
from kizuna.interfaces.api.clock import RunClock, live_snapshot
from kizuna.interfaces.api.metrics import CONTENT_TYPE, Metrics
from kizuna.interfaces.api.release import releasable
from kizuna.interfaces.api.view import SERVED_KINDS, NodeView
from kizuna.sharing import Agreement, Envelope, to_posix

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
STATIC_DIR = WEB_DIR / "static"
API = "/api/v1"
WS_AUTH_TIMEOUT_S = 10.0
MAX_REPORT_BYTES = 64 * 1024

# The page loads only its own files; Leaflet sets inline styles, hence 'unsafe-inline' for
# style only. connect-src 'self' covers same-origin ws:/wss: in current browsers.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)


# --- response models (for the OpenAPI document; items are contract products) --------------


class _Served(BaseModel):
    origin_node: str


class ServedTrack(TrackProduct, _Served):
    """A contract track plus the node that produced it."""


class ServedPrediction(PredictionProduct, _Served):
    """A contract prediction plus the node that produced it."""


class ServedAlert(AlertProduct, _Served):
    """A contract alert plus the node that produced it."""


class _ListBase(BaseModel):
    node: str
    count: int
    withheld: int = 0


class TrackList(_ListBase):
    kind: Literal["track"] = "track"
    items: list[ServedTrack]


class PredictionList(_ListBase):
    kind: Literal["prediction"] = "prediction"
    items: list[ServedPrediction]


class AlertList(_ListBase):
    kind: Literal["alert"] = "alert"
    items: list[ServedAlert]


_LIST_MODELS: dict[str, type[_ListBase]] = {
    "track": TrackList,
    "prediction": PredictionList,
    "alert": AlertList,
}
_PLURAL = {"track": "tracks", "prediction": "predictions", "alert": "alerts"}


class WhoAmI(BaseModel):
    node: str
    nation: str
    role: str
    agreement: str
    expires_at: float


class Clock(BaseModel):
    """Where the node's data time is. ``mode`` is ``live`` (data time is wall time) or
    ``replay`` (a scenario driven at ``speed`` x real time, see
    :class:`kizuna.interfaces.api.clock.RunClock`; ``lag_s`` is how many scenario seconds the
    run is behind its schedule, ``late_s`` the same in wall seconds, ``achieved_speed`` what it
    has sustained)."""

    mode: Literal["live", "replay"]
    name: str
    state: Literal["starting", "running", "finished", "stopped"]
    speed: float
    achieved_speed: float | None
    scenario_time: str | None
    scenario_s: float | None
    origin_time: str | None
    end_time: str | None
    lag_s: float | None
    late_s: float | None


class Health(BaseModel):
    status: Literal["ok"]
    node: str
    agreement: str
    version: str


class ErrorBody(BaseModel):
    detail: str


class Accepted(BaseModel):
    accepted: str
    kind: str


class CommandRelationOut(BaseModel):
    node: str
    reports_to: str
    role: str
    note: str
    effective_from: str | None
    effective_to: str | None


class CommandStructure(BaseModel):
    at: str
    node: str
    chain_of_command: list[str]
    roots: list[str]
    subordinates: dict[str, list[str]]
    relations: list[CommandRelationOut]


class AgreementOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    description: str
    at: str
    nations: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    links_in_force: list[list[str]]
    release_rules_in_force: list[dict[str, Any]]


_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing, malformed, expired or forged token"},
    403: {"model": ErrorBody, "description": "token for another node, agreement or role"},
}


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _served(envelope: Envelope) -> dict[str, Any]:
    return {**envelope.product, "origin_node": envelope.origin_node}


def _parse_instant(value: str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return to_posix(float(value)) if _is_number(value) else to_posix(value)
    except InputError as exc:
        raise HTTPException(422, f"{name}: {exc}") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def create_app(
    node_view: NodeView,
    agreement: Agreement,
    *,
    token_key: bytes | None = None,
    data_dir: str | Path | None = None,
    metrics: Metrics | None = None,
    serve_web: bool = True,
    clock: Callable[[], float] = time.time,
    run_clock: RunClock | None = None,
) -> FastAPI:
    """The API (and, with ``serve_web``, the map page) of ``node_view.node_id``.

    ``token_key`` is the node's HMAC key; when None it is read from (or created in)
    ``<data_dir>/<node>/api-token.key`` (:func:`kizuna.interfaces.api.auth.node_data_dir`).
    ``metrics`` may be shared with the node's CoT server so ``/metrics`` shows both.
    ``clock`` gives POSIX seconds for token expiry and the default ``at`` of the agreement
    queries. ``run_clock`` is the scenario clock of a replay (``kizuna demo``); without it
    ``/api/v1/clock`` reports live time.
    """
    node_id = node_view.node_id
    node = agreement.node(node_id)  # raises for a node the agreement does not have
    key = (
        token_key if token_key is not None else load_or_create_key(node_data_dir(data_dir, node_id))
    )
    registry = metrics if metrics is not None else Metrics()
    registry.counter("api_requests", "HTTP requests by route and status")
    registry.counter("auth_failures", "Refused credentials by channel and status")
    registry.counter("products_served", "Products sent to clients by channel and kind")
    registry.counter("products_withheld", "Products the release policy kept from a client")
    ws_clients: set[WebSocket] = set()
    registry.gauge("ws_clients", "Open, authenticated WebSocket clients", lambda: len(ws_clients))

    app = FastAPI(
        title=f"kizuna node {node_id}",
        version=__version__,
        description=(
            f"Operator API of node {node_id} ({node.name}) under agreement {agreement.name}. "
            "Every product served has passed the agreement's release policy for this node."
        ),
    )
    app.state.node_view = node_view
    app.state.agreement = agreement
    app.state.metrics = registry
    bearer = HTTPBearer(auto_error=False, description="Token from `kizuna token`")

    def authenticate(token: str | None, channel: str) -> Principal:
        try:
            return verify_token(token, key, node=node_id, agreement=agreement.name, now_s=clock())
        except AuthError as exc:
            registry.inc("auth_failures", channel=channel, status=str(exc.status))
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            raise HTTPException(exc.status, exc.message, headers=headers) from None

    def viewer(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        return authenticate(credentials.credentials if credentials else None, "http")

    def operator(principal: Annotated[Principal, Depends(viewer)]) -> Principal:
        if not principal.may("operator"):
            registry.inc("auth_failures", channel="http", status="403")
            raise HTTPException(403, "this needs an operator token; yours is a viewer token")
        return principal

    Viewer = Annotated[Principal, Depends(viewer)]

    @app.middleware("http")
    async def _count_requests(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        registry.inc("api_requests", route=path, status=str(response.status_code))
        if path.startswith(API):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    def serve(kind: str, envelopes: list[Envelope], principal: Principal) -> Response:
        items: list[dict[str, Any]] = []
        withheld = 0
        for envelope in envelopes:
            if releasable(envelope, principal.node, agreement).allowed:
                items.append(_served(envelope))
            else:
                withheld += 1
        if items:
            registry.inc("products_served", len(items), channel="http", kind=kind)
        if withheld:
            registry.inc("products_withheld", withheld, channel="http", kind=kind)
        body = {
            "node": node_id,
            "kind": kind,
            "count": len(items),
            "withheld": withheld,
            "items": items,
        }
        return Response(
            json.dumps(body, separators=(",", ":"), ensure_ascii=False),
            media_type="application/json",
        )

    def routes_for(kind: str) -> tuple[Callable[..., Response], Callable[..., Response]]:
        # A factory, so each route closes over its own kind (and the signature FastAPI reads
        # has only the real query parameters).
        def current(principal: Viewer) -> Response:
            return serve(kind, node_view.current(kind), principal)

        def history(
            principal: Viewer,
            since: Annotated[
                str | None, Query(description="RFC 3339 time or POSIX seconds (inclusive)")
            ] = None,
            until: Annotated[
                str | None, Query(description="RFC 3339 time or POSIX seconds (exclusive)")
            ] = None,
            limit: Annotated[int, Query(ge=1, le=100_000, description="newest N")] = 10_000,
        ) -> Response:
            since_s = _parse_instant(since, "since")
            until_s = _parse_instant(until, "until")
            found = node_view.history(kind, since_s=since_s, until_s=until_s, limit=limit)
            return serve(kind, found, principal)

        return current, history

    for kind in SERVED_KINDS:
        plural = _PLURAL[kind]
        model = _LIST_MODELS[kind]
        current, history = routes_for(kind)
        app.add_api_route(
            f"{API}/{plural}",
            current,
            methods=["GET"],
            response_model=model,
            responses=_AUTH_ERRORS,
            summary=f"Current {plural} (latest version of each)",
            operation_id=f"current_{plural}",
            tags=["picture"],
        )
        app.add_api_route(
            f"{API}/{plural}/history",
            history,
            methods=["GET"],
            response_model=model,
            responses=_AUTH_ERRORS,
            summary=f"Every version of the {plural}, oldest first",
            operation_id=f"history_{plural}",
            tags=["picture"],
        )

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "node": node_id,
            "agreement": agreement.name,
            "version": __version__,
        }

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}, **_AUTH_ERRORS},
        tags=["service"],
    )
    def prometheus(principal: Viewer) -> Response:
        return Response(registry.render(), media_type=CONTENT_TYPE)

    @app.get(f"{API}/whoami", response_model=WhoAmI, responses=_AUTH_ERRORS, tags=["node"])
    def whoami(principal: Viewer) -> dict[str, Any]:
        return {
            "node": node_id,
            "nation": node.nation,
            "role": principal.role,
            "agreement": agreement.name,
            "expires_at": principal.expires_at_s,
        }

    @app.get(f"{API}/clock", response_model=Clock, responses=_AUTH_ERRORS, tags=["node"])
    def data_clock(principal: Viewer) -> dict[str, Any]:
        return run_clock.snapshot() if run_clock is not None else live_snapshot(clock())

    @app.get(f"{API}/agreement", response_model=AgreementOut, responses=_AUTH_ERRORS, tags=["node"])
    def agreement_in_force(principal: Viewer, at: str | None = None) -> dict[str, Any]:
        t = _parse_instant(at, "at") or clock()
        return {
            "name": agreement.name,
            "description": agreement.description,
            "at": _iso_posix(t),
            "nations": [n.model_dump() for n in agreement.nations],
            "nodes": [n.model_dump() for n in agreement.nodes],
            "links_in_force": [list(link) for link in agreement.links_in_force(t)],
            "release_rules_in_force": [
                {
                    "id": r.id,
                    "from": r.from_,
                    "kinds": list(r.kinds),
                    "to": sorted(agreement.rule_targets(r)),
                    "overrides_marking": r.overrides_marking,
                    "max_classification": r.max_classification,
                    "note": r.note,
                }
                for r in agreement.rules_in_force(t)
            ],
        }

    @app.get(
        f"{API}/command", response_model=CommandStructure, responses=_AUTH_ERRORS, tags=["node"]
    )
    def command(principal: Viewer, at: str | None = None) -> dict[str, Any]:
        t = _parse_instant(at, "at") or clock()
        relations = [r for r in agreement.command if r.in_force(t)]
        return {
            "at": _iso_posix(t),
            "node": node_id,
            "chain_of_command": agreement.chain_of_command(node_id, t),
            "roots": agreement.roots(t),
            "subordinates": agreement.command_tree(t),
            "relations": [
                {
                    "node": r.node,
                    "reports_to": r.reports_to,
                    "role": r.role,
                    "note": r.note,
                    "effective_from": _iso(r.effective_from),
                    "effective_to": _iso(r.effective_to),
                }
                for r in relations
            ],
        }

    @app.get(f"{API}/geo/regions", responses=_AUTH_ERRORS, tags=["map"])
    def geo_regions(principal: Viewer) -> Response:
        from kizuna.interfaces.web.geo import regions_geojson

        return Response(regions_geojson(), media_type="application/geo+json")

    @app.get(f"{API}/geo/coastline", responses=_AUTH_ERRORS, tags=["map"])
    def geo_coastline(principal: Viewer) -> Response:
        from kizuna.interfaces.web.geo import coastline_geojson

        return Response(coastline_geojson(), media_type="application/geo+json")

    @app.post(
        f"{API}/reports",
        status_code=202,
        response_model=Accepted,
        responses={**_AUTH_ERRORS, 413: {"model": ErrorBody}, 422: {"model": ErrorBody}},
        tags=["picture"],
    )
    async def submit_report(
        request: Request, principal: Annotated[Principal, Depends(operator)]
    ) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_REPORT_BYTES:
            raise HTTPException(413, f"a report is at most {MAX_REPORT_BYTES} bytes")
        try:
            report = parse_report(raw, source=f"api:{node_id}")
        except InputError as exc:
            raise HTTPException(422, str(exc)) from None
        node_view.submit_report(report, f"api:{node_id}:{principal.token_id}")
        return {"accepted": report.id, "kind": report.kind}

    @app.websocket("/ws")
    async def websocket(ws: WebSocket) -> None:
        await _websocket(ws, node_view, agreement, authenticate, registry, ws_clients)

    if serve_web:

        @app.get("/", include_in_schema=False)
        def index() -> FileResponse:
            return FileResponse(
                STATIC_DIR / "index.html",
                headers={
                    "Content-Security-Policy": PAGE_CSP,
                    "Cache-Control": "no-cache",
                    "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer",
                },
            )

        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    return app


def _iso_posix(t: float) -> str:
    from kizuna.timefmt import format_time

    return format_time(t)


async def _websocket(
    ws: WebSocket,
    node_view: NodeView,
    agreement: Agreement,
    authenticate: Callable[[str | None, str], Principal],
    registry: Metrics,
    clients: set[WebSocket],
) -> None:
    """Live products over one WebSocket.

    Protocol (JSON text frames): the client authenticates with an ``Authorization: Bearer``
    header or, as browsers cannot set headers on a WebSocket, with a first message
    ``{"type": "auth", "token": "..."}`` within 10 s. A refusal is a message
    ``{"type": "error", "status": 401|403, "detail": ...}`` and close code 4401/4403. Then the
    server sends ``{"type": "hello", "node", "role", "agreement"}`` and one
    ``{"type": "product", "kind", "item"}`` per live product the policy releases to the node
    (``item`` as in the REST lists). ``{"type": "ping"}`` gets ``{"type": "pong"}``. A client
    that falls 10,000 products behind is closed with code 1013 (reconnect and re-read REST).
    """
    await ws.accept()
    header = ws.headers.get("authorization", "")
    token: str | None = header[7:].strip() if header.lower().startswith("bearer ") else None
    try:
        if token is None:
            try:
                first = await asyncio.wait_for(ws.receive_json(), WS_AUTH_TIMEOUT_S)
            except TimeoutError:
                first = {}
            if isinstance(first, dict) and first.get("type") == "auth":
                token = first.get("token") if isinstance(first.get("token"), str) else None
        try:
            principal = authenticate(token, "ws")
        except HTTPException as exc:
            await ws.send_json({"type": "error", "status": exc.status_code, "detail": exc.detail})
            await ws.close(code=4000 + exc.status_code, reason=str(exc.detail)[:120])
            return
    except (WebSocketDisconnect, ValueError, RuntimeError):
        # A client that vanished (or sent something other than JSON) before authenticating.
        with contextlib.suppress(RuntimeError):
            await ws.close(code=4401)
        return

    clients.add(ws)
    try:
        await ws.send_json(
            {
                "type": "hello",
                "node": principal.node,
                "role": principal.role,
                "agreement": agreement.name,
            }
        )
        async with node_view.subscribe() as live:

            async def forward() -> None:
                async for envelope in live:
                    if time.time() >= principal.expires_at_s:
                        await ws.close(code=4401, reason="token has expired")
                        return
                    if not releasable(envelope, principal.node, agreement).allowed:
                        registry.inc("products_withheld", channel="ws", kind=envelope.kind)
                        continue
                    await ws.send_text(
                        json.dumps(
                            {"type": "product", "kind": envelope.kind, "item": _served(envelope)},
                            separators=(",", ":"),
                            ensure_ascii=False,
                        )
                    )
                    registry.inc("products_served", channel="ws", kind=envelope.kind)
                if live.overflowed:
                    await ws.close(code=1013, reason="client too slow; reconnect")

            async def listen() -> None:
                while True:
                    message = await ws.receive_text()
                    with contextlib.suppress(ValueError):
                        data = json.loads(message)
                        if isinstance(data, dict) and data.get("type") == "ping":
                            await ws.send_json({"type": "pong"})

            tasks = [asyncio.ensure_future(forward()), asyncio.ensure_future(listen())]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(
                        asyncio.CancelledError, WebSocketDisconnect, RuntimeError, AttributeError
                    ):
                        await task
    except WebSocketDisconnect:
        pass
    finally:
        clients.discard(ws)
        if ws.application_state != WebSocketState.DISCONNECTED:
            # The client may have gone in the meantime (a page reload): closing then raises.
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await ws.close()


__all__ = [
    "API",
    "STATIC_DIR",
    "AlertList",
    "PredictionList",
    "ServedAlert",
    "ServedPrediction",
    "ServedTrack",
    "TrackList",
    "create_app",
]
