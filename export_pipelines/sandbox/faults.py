"""Injectable faults: the failures a real vendor and the network between produce now and then.

A fault is armed for one vendor route (``submit``, ``fetch``, ``file``…) and fires on the next
``times`` requests to that route, oldest fault first. It can hold the request (``delay_seconds``),
answer an error status instead of the real answer (``status``, with ``Retry-After`` when given: a
throttle, an outage, or a 403 as if a signed URL had expired), or, on download routes, send the
first ``cut_after_bytes`` bytes of the file and drop the connection (``cut_after_bytes``), which a
client must see as an incomplete body and resume with ``Range``. On any route it can also drop the
connection before a byte of the body (``drop_connection``: a reset as the client sees it), send the
real answer slowly (``drip_bytes_per_second``: a vendor answering byte by byte), or add headers to
its error answer (``headers``: the rate-limit headers of vendors that do not send ``Retry-After``).
A fault fires on every matching request until ``times`` are used, or, with ``probability``, on
each matching request with that chance (from a seeded generator, so a run can be repeated).

Faults fire before authentication and validation, as a proxy or load balancer in front of the
vendor would; unless ``after_processing`` is set: then the vendor handles the request for real
first (a submit creates its export) and only then is the delay waited and the answer held (sent
late) or replaced by ``status``. That is the submit whose outcome the client cannot know: it timed
out or got a 5xx, yet the vendor has the job.

Every vendor's routes apply faults the same way, through ``with_fault``.
"""

import asyncio
import itertools
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send


class FaultSpec(BaseModel):
    """What ``POST /_sandbox/faults`` accepts; unknown fields are refused so typos do not pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vendor: str
    route: str
    times: int = Field(default=1, ge=1)
    status: int | None = Field(default=None, ge=400, le=599)
    #: Seconds (a number) or an HTTP date (a string), sent as ``Retry-After`` with ``status``.
    retry_after: int | float | str | None = None
    delay_seconds: float | None = Field(default=None, ge=0, le=600)
    cut_after_bytes: int | None = Field(default=None, ge=0)
    #: Body of the error answer; default ``{"error": "sandbox fault: <status>"}``.
    body: str | None = None
    #: Run the real handler first, then delay and/or answer ``status`` instead of its answer.
    after_processing: bool = False
    #: Extra headers of the error answer, e.g. ``{"X-RateLimit-Reset": "1767225600"}``.
    headers: dict[str, str] | None = None
    #: Answer nothing: the status line and headers go out, then the connection is dropped.
    drop_connection: bool = False
    #: Send the real answer at this many bytes a second (a vendor that answers byte by byte).
    drip_bytes_per_second: float | None = Field(default=None, gt=0)
    #: Fire on each matching request with this chance instead of on the next ``times`` ones.
    probability: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> "FaultSpec":
        effects = (
            self.status,
            self.delay_seconds,
            self.cut_after_bytes,
            self.drip_bytes_per_second,
            True if self.drop_connection else None,
        )
        if all(effect is None for effect in effects):
            raise ValueError(
                "a fault needs at least one of status, delay_seconds, cut_after_bytes, "
                "drop_connection, drip_bytes_per_second"
            )
        answers = [
            name
            for name, on in (
                ("status", self.status is not None),
                ("cut_after_bytes", self.cut_after_bytes is not None),
                ("drop_connection", self.drop_connection),
                ("drip_bytes_per_second", self.drip_bytes_per_second is not None),
            )
            if on
        ]
        if len(answers) > 1:
            raise ValueError(f"{' and '.join(answers)} exclude each other")
        if self.status is None and (
            self.retry_after is not None or self.body is not None or self.headers
        ):
            raise ValueError("retry_after, headers and body only go with status")
        if self.after_processing and self.cut_after_bytes is not None:
            raise ValueError(
                "after_processing and cut_after_bytes exclude each other (a cut is always "
                "after processing)"
            )
        return self


@dataclass
class Fault:
    """An armed fault; ``remaining`` counts down as requests hit it."""

    id: int
    vendor: str
    route: str
    remaining: int
    status: int | None = None
    retry_after: int | float | str | None = None
    delay_seconds: float | None = None
    cut_after_bytes: int | None = None
    body: str | None = None
    after_processing: bool = False
    headers: dict[str, str] | None = None
    drop_connection: bool = False
    drip_bytes_per_second: float | None = None
    probability: float | None = None
    fired: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class FaultError(ValueError):
    """A fault names a vendor or route the sandbox does not have."""


@dataclass(frozen=True)
class VendorRoutes:
    """The fault-addressable routes of one vendor; downloads can also be cut mid-body."""

    routes: frozenset[str]
    download_routes: frozenset[str]


class FaultRegistry:
    """Armed faults of every vendor; thread-safe (tests arm them, the server's thread fires them)."""

    def __init__(self, vendors: Mapping[str, VendorRoutes] | None = None, seed: int = 0) -> None:
        self._vendors = dict(vendors or {})
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._chance = random.Random(seed)

    def register(self, vendor: str, routes: VendorRoutes) -> None:
        """Make a vendor's routes addressable; each vendor sub-package registers its own."""
        with self._lock:
            self._vendors[vendor] = routes

    def add(self, spec: FaultSpec) -> Fault:
        routes = self._vendors.get(spec.vendor)
        if routes is None:
            raise FaultError(f"unknown vendor {spec.vendor!r}; known: {sorted(self._vendors)}")
        if spec.route not in routes.routes:
            raise FaultError(
                f"unknown route {spec.route!r} for {spec.vendor}; known: {sorted(routes.routes)}"
            )
        if spec.cut_after_bytes is not None and spec.route not in routes.download_routes:
            raise FaultError(
                f"cut_after_bytes only applies to download routes: {sorted(routes.download_routes)}"
            )
        with self._lock:
            fault = Fault(
                id=next(self._ids),
                vendor=spec.vendor,
                route=spec.route,
                remaining=spec.times,
                status=spec.status,
                retry_after=spec.retry_after,
                delay_seconds=spec.delay_seconds,
                cut_after_bytes=spec.cut_after_bytes,
                body=spec.body,
                after_processing=spec.after_processing,
                headers=dict(spec.headers) if spec.headers else None,
                drop_connection=spec.drop_connection,
                drip_bytes_per_second=spec.drip_bytes_per_second,
                probability=spec.probability,
            )
            self._faults.append(fault)
            return fault

    def take(self, vendor: str, route: str) -> Fault | None:
        """The fault that fires on this request, if any, consuming one of its ``times``."""
        with self._lock:
            for fault in self._faults:
                if fault.vendor != vendor or fault.route != route:
                    continue
                if fault.probability is not None and self._chance.random() >= fault.probability:
                    continue
                fault.remaining -= 1
                fault.fired += 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return [Fault(**asdict(fault)) for fault in self._faults]


async def fault_response(fault: Fault | None) -> Response | None:
    """Wait out the fault's delay; return the error answer that replaces the real one, if any.

    A ``cut_after_bytes`` fault returns None here: the download code carries it out. The caller
    must have dealt with ``after_processing`` (``with_fault`` does).
    """
    if fault is None:
        return None
    if fault.delay_seconds:
        await asyncio.sleep(fault.delay_seconds)
    return _status_answer(fault)


async def with_fault(fault: Fault | None, handle: Callable[[], Awaitable[Response]]) -> Response:
    """The answer to a request that ``fault`` (maybe None) hits; ``handle`` is the real handler.

    Before processing: the delay, then the error status instead of calling ``handle`` at all.
    After processing: ``handle`` runs, then the delay, then its answer or the error status.
    """
    if fault is not None and fault.after_processing:
        real = await handle()
        if fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        injected = _status_answer(fault)
        return _shaped(fault, real) if injected is None else injected
    injected = await fault_response(fault)
    if injected is not None:
        return injected
    real = await handle()
    return real if fault is None else _shaped(fault, real)


def _shaped(fault: Fault, real: Response) -> Response:
    """The real answer as the fault delivers it: whole, dropped, or dripped."""
    if fault.drop_connection:
        return _Shaped(real, bytes_per_second=None)
    if fault.drip_bytes_per_second is not None:
        return _Shaped(real, bytes_per_second=fault.drip_bytes_per_second)
    return real


class _Shaped(Response):
    """Wraps a response: drop the connection after the headers, or send the body slowly.

    Dropping swallows every body message, so the response never completes and uvicorn closes the
    socket (the client sees the peer close mid-answer). Dripping splits each body message into
    small pieces sent a tenth of a second apart.
    """

    def __init__(self, inner: Response, *, bytes_per_second: float | None) -> None:
        self.inner = inner
        self.bytes_per_second = bytes_per_second
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rate = self.bytes_per_second

        async def shaping_send(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
                return
            if rate is None:
                return
            body: bytes = message.get("body", b"")
            step = max(1, int(rate / 10))
            for start in range(0, len(body), step):
                await send(
                    {
                        "type": "http.response.body",
                        "body": body[start : start + step],
                        "more_body": True,
                    }
                )
                await asyncio.sleep(step / rate)
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.inner(scope, receive, shaping_send)


def _status_answer(fault: Fault) -> Response | None:
    if fault.status is None:
        return None
    headers = dict(fault.headers or {})
    if fault.retry_after is not None:
        headers["Retry-After"] = _retry_after(fault.retry_after)
    if fault.body is not None:
        return Response(fault.body, status_code=fault.status, headers=headers)
    return JSONResponse(
        {"error": f"sandbox fault: {fault.status}"}, status_code=fault.status, headers=headers
    )


def _retry_after(value: int | float | str) -> str:
    if isinstance(value, str):
        return value
    # Retry-After carries whole seconds; round up so a client never retries early.
    return str(max(0, int(-(-value // 1))))
