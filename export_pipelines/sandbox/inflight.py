"""How many requests each vendor route is serving right now, and the most it ever served at once.

A vendor limits concurrent calls (a Dagster pool per vendor enforces that on our side); this meter
is how a test sees from the vendor's side whether the limit held: every route of every vendor is
wrapped at mount time, so a request counts from the moment its handler starts until its response
(a streamed download included) is sent. Vendor-neutral: it knows route paths, not vendors' APIs.

``GET /_sandbox/in-flight`` reads it; ``DELETE`` zeroes the high-water marks and totals.
"""

import threading
from dataclasses import dataclass

from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class _Gauge:
    in_flight: int = 0
    high_water: int = 0
    served: int = 0

    def enter(self) -> None:
        self.in_flight += 1
        self.high_water = max(self.high_water, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1
        self.served += 1

    def as_dict(self) -> dict[str, int]:
        return {"in_flight": self.in_flight, "high_water": self.high_water, "served": self.served}


class InFlightMeter:
    """Concurrent requests per vendor (all its routes together) and per ``METHOD path`` route."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._vendors: dict[str, _Gauge] = {}
        self._routes: dict[str, dict[str, _Gauge]] = {}

    def instrument(self, vendor: str, routes: list[BaseRoute]) -> None:
        """Wrap each of the vendor's API routes (in place, before the app is built)."""
        with self._lock:
            self._vendors.setdefault(vendor, _Gauge())
            self._routes.setdefault(vendor, {})
        for route in routes:
            if isinstance(route, Route):
                methods = "|".join(sorted(route.methods or ()))
                route.app = self._wrap(vendor, f"{methods} {route.path}", route.app)
            elif isinstance(route, Mount):
                self.instrument(vendor, list(route.routes))

    def _wrap(self, vendor: str, name: str, app: ASGIApp) -> ASGIApp:
        with self._lock:
            route_gauge = self._routes[vendor].setdefault(name, _Gauge())
            vendor_gauge = self._vendors[vendor]

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            with self._lock:
                vendor_gauge.enter()
                route_gauge.enter()
            try:
                await app(scope, receive, send)
            finally:
                with self._lock:
                    vendor_gauge.leave()
                    route_gauge.leave()

        return counted

    def snapshot(self) -> dict[str, object]:
        """Vendor → its totals and, under ``routes``, each route's (routes never called omitted)."""
        with self._lock:
            return {
                vendor: {
                    **gauge.as_dict(),
                    "routes": {
                        name: route.as_dict()
                        for name, route in self._routes[vendor].items()
                        if route.served or route.in_flight
                    },
                }
                for vendor, gauge in self._vendors.items()
            }

    def reset(self) -> None:
        """Zero the high-water marks and totals; requests still in flight stay counted."""
        with self._lock:
            for gauge in [*self._vendors.values()] + [
                g for routes in self._routes.values() for g in routes.values()
            ]:
                gauge.high_water, gauge.served = gauge.in_flight, 0
