"""Prometheus metrics at ``GET /metrics`` (prometheus-client), one registry per application.

Metrics are an operating concern, so they live on the wiring side: the domain
(``trading.market``, ``trading.broker``) imports nothing from here and no exporter. What this
module observes, it observes from outside:

- HTTP requests: :meth:`Metrics.observe_request`, from the front middleware
  (trading/front.py), labelled by the route's *template* (``/api/v1/udf/symbols``,
  ``/api/v1/broker/orders/{order_id}``), never the raw path, so the series stay bounded;
  requests no route matched are ``route="unmatched"``.
- WebSocket: the hub's own counters and sizes (:meth:`Hub.stats`), read at scrape time by a
  collector, so the socket code carries no metric calls.
- Market: the stream's tick count and watched feeds, read at scrape time.
- Broker: order updates and fills from the broker's post-commit event listener (the same
  hook the WebSocket uses), and the commit latency from ``BrokerService.commit_observers``,
  a plain list of callbacks.

A per-app :class:`~prometheus_client.CollectorRegistry` (not the process-global one) keeps
apps independent: tests build many in one process, and two would otherwise collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from trading.broker.events import BrokerEvent, Executed, OrderChanged
from trading.broker.service import BrokerService
from trading.keys import BROKER, HUB, REMOTE, STREAM
from trading.market.stream import MarketStream
from trading.specs.operation import operation
from trading.ws.hub import Hub
from trading.ws.remote import BackplaneCounters

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_CHILDREN_CACHED = 4096
"""Most (method, route, status) label sets whose metric children are kept at hand."""
_Inc = Callable[[], None]
_Observe = Callable[[float], None]

COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    """The registry of one application and the instruments updated while it runs."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.http_requests = Counter(
            "trading_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "trading_http_request_duration_seconds",
            "Time from the request reaching the app to its handler returning (for a WebSocket "
            "upgrade: the connection's life)",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.broker_order_updates = Counter(
            "trading_broker_order_updates",
            "Committed order changes, by the order's new status (working = placed or modified)",
            ["status"],
            registry=registry,
        )
        self.broker_fills = Counter(
            "trading_broker_fills", "Committed executions (fills)", registry=registry
        )
        self.broker_commit = Histogram(
            "trading_broker_commit_duration_seconds",
            "Time to commit one broker mutation to SQLite",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )

        self._http_children: dict[tuple[str, str, str], tuple[_Inc, _Observe]] = {}

    def observe_request(self, request: web.Request, status: int, seconds: float) -> None:
        """Count one answered request and its duration, by its route's template.

        The labelled children are kept per (method, route, status): ``labels()`` costs more
        than the count itself (a lock, a tuple, a dict lookup, for each of the two metrics).
        The key set is the one prometheus-client keeps anyway; past
        ``HTTP_CHILDREN_CACHED`` (a client can send any method name) ``labels()`` is called
        as before, so the cache stays bounded."""
        method, route = request.method, route_template(request)
        key = (method, route, str(status))
        children = self._http_children.get(key)
        if children is None:
            children = (
                self.http_requests.labels(*key).inc,
                self.http_duration.labels(method, route).observe,
            )
            if len(self._http_children) < HTTP_CHILDREN_CACHED:
                self._http_children[key] = children
        inc, observe = children
        inc()
        observe(seconds)

    def observe_broker(self, broker: BrokerService) -> None:
        def on_event(account: str, event: BrokerEvent) -> None:
            if isinstance(event, OrderChanged):
                self.broker_order_updates.labels(event.order.status.name.lower()).inc()
            elif isinstance(event, Executed):
                self.broker_fills.inc()

        broker.listen(on_event)
        broker.commit_observers.append(self.broker_commit.observe)

    def observe_streaming(self, hub: Hub, stream: MarketStream) -> None:
        self.registry.register(_StreamingCollector(hub, stream))

    def observe_backplane(self, counters: BackplaneCounters) -> None:
        self.registry.register(_BackplaneCollector(counters))


class _StreamingCollector(Collector):
    """Hub and market-stream figures, read when Prometheus scrapes."""

    def __init__(self, hub: Hub, stream: MarketStream) -> None:
        self._hub = hub
        self._stream = stream

    def collect(self) -> Iterator[Metric]:
        stats = self._hub.stats()
        gauges = (
            ("trading_ws_connections", "Open WebSocket connections", stats.connections),
            ("trading_ws_topics", "Topics with at least one subscriber", stats.topics),
            ("trading_ws_subscriptions", "Subscriptions over all connections", stats.subscriptions),
        )
        for name, doc, value in gauges:
            yield GaugeMetricFamily(name, doc, value=value)
        counters = (
            (
                "trading_ws_messages_sent",
                "Update frames queued to subscribers",
                stats.messages_sent,
            ),
            (
                "trading_ws_messages_coalesced",
                "Queued market updates replaced by a newer one (full queue)",
                stats.messages_coalesced,
            ),
            (
                "trading_ws_slow_consumer_closes",
                "Connections closed with 1008 because they could not keep up",
                stats.slow_consumer_closes,
            ),
            (
                "trading_ws_protocol_errors",
                "Client messages answered with an error",
                stats.protocol_errors,
            ),
            ("trading_market_ticks", "Market stream ticks run", self._stream.ticks),
        )
        for name, doc, value in counters:
            yield CounterMetricFamily(name, doc, value=value)
        bars, quotes = self._stream.watched()
        watched = GaugeMetricFamily(
            "trading_market_watched_feeds",
            "Feeds the market stream computes each tick",
            labels=["kind"],
        )
        watched.add_metric(["bars"], bars)
        watched.add_metric(["quotes"], quotes)
        yield watched


class _BackplaneCollector(Collector):
    """The Redis backplane's counters (``TRADING_REDIS_URL`` only), read when scraped."""

    def __init__(self, counters: BackplaneCounters) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        c = self._counters
        counters = (
            ("trading_backplane_publishes", "Broker pushes Redis accepted", c.published),
            (
                "trading_backplane_drops",
                "Broker pushes lost before Redis took them (full queue, failed or timed-out "
                "publish); their accounts' subscribers get fresh snapshots",
                c.dropped,
            ),
            ("trading_backplane_received", "Broker pushes received from Redis", c.received),
            (
                "trading_backplane_resyncs",
                "Rounds of fresh snapshots after a Redis reconnect, a peer's dropped pushes or a "
                "push that arrived after a newer one",
                c.resyncs,
            ),
            (
                "trading_backplane_reconnects",
                "Times the Redis pub/sub connection came back after it dropped",
                c.reconnects,
            ),
        )
        for name, doc, value in counters:
            yield CounterMetricFamily(name, doc, value=value)


def route_template(request: web.Request) -> str:
    """The canonical form of the matched resource, never the path a client sent."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    if resource is None or request.match_info.http_exception is not None:
        return UNMATCHED
    return resource.canonical


METRICS = web.AppKey("metrics", Metrics)


def setup_metrics(app: web.Application) -> None:
    """The ``/metrics`` route (hidden from OpenAPI: not JSON, not part of the reference API)
    and the observers of streaming and broker; call after the streaming side is wired."""
    metrics = app[METRICS]
    metrics.observe_streaming(app[HUB], app[STREAM])
    metrics.observe_broker(app[BROKER])
    if REMOTE in app:
        metrics.observe_backplane(app[REMOTE].counters)
    handler = operation("getMetrics", tag="health", summary="Prometheus metrics", hidden=True)(
        make_aiohttp_handler(metrics.registry)
    )
    app.router.add_get(METRICS_PATH, handler, name="metrics")
