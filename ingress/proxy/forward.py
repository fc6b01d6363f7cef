"""Forwarding a routed exchange to its pods: shared by every client protocol.

`Forwarder` picks an endpoint, takes a pooled HTTP/1.1 upstream connection
or opens one, and handles what the upstream reports back before the
response starts: connected, failed (proxy-next-upstream: retry elsewhere,
or answer 502/504), or a status the route intercepts (a retry, or the
custom-http-errors Service). It counts and logs every exchange as it ends.
An HTTP/1.1 `ClientConnection` is one Forwarder for its requests in turn;
an HTTP/2 stream is one for its single request.
"""

from __future__ import annotations

import logging

from ingress.model import Endpoint, Route
from ingress.proxy.access import finished_request
from ingress.proxy.error_pages import error_request
from ingress.proxy.exchange import Exchange
from ingress.proxy.http import IDEMPOTENT_METHODS
from ingress.proxy.retries import may_reconnect, may_retry, policy_of
from ingress.proxy.router import Router
from ingress.proxy.upstream import UpstreamConnection

log = logging.getLogger(__name__)


class Forwarder(Router):
    __slots__ = ()

    def _body_to_upstream(self, exchange: Exchange, data: bytes) -> bool:
        """Write request body bytes to the exchange's upstream, or keep them until it has
        one. True when they went (an error page's request has no body: dropped)."""
        if exchange.error_page:
            return True
        upstream = exchange.upstream
        if upstream is not None and upstream.exchange is exchange:
            exchange.keep_for_replay(data)
            upstream.write(data)
            if upstream.stalled is not exchange:
                # The read timeout runs from the last byte sent, not from the request's start.
                upstream.deadline = self.dp.loop.time() + upstream.read_timeout
            return True
        exchange.outbox.append(data)
        return False

    def _abandon_upstream(self, exchange: Exchange) -> None:
        if exchange.upstream is not None:
            exchange.upstream.abandon(exchange)

    def _forward(self, exchange: Exchange) -> None:
        route = exchange.route
        assert route is not None
        endpoint = self._pick(exchange)
        if endpoint is None:
            return
        dp = self.dp
        backend = exchange.backend
        assert backend is not None
        pool = dp.pool(endpoint.address) if backend.tls is None else dp.tls_pool(
            endpoint.address, backend)
        if exchange.fresh:
            upstream = None
        elif exchange.method in IDEMPOTENT_METHODS:
            upstream = pool.take_idle(0.0)
        else:
            # A connection the upstream may be closing would fail a write that must
            # not be replayed: only one that was idle a moment ago is safe to reuse.
            upstream = pool.take_idle(dp.loop.time() - dp.settings.non_idempotent_reuse_idle)
        if upstream is None:
            dp.connect(pool, exchange, self._read_timeout(route))
        elif self.feeding:
            # The rest of this read may hold a framing error: nothing is written
            # upstream before it is all parsed (then head and body go in one write).
            self.deferred = (exchange, upstream, self._read_timeout(route))
        else:
            self._send(exchange, upstream, self._read_timeout(route))

    def _pick(self, exchange: Exchange) -> Endpoint | None:
        """The endpoint of this try, noted in `exchange`; None when there is none (answered
        503 without ready endpoints, 502 when every one was tried or is ejected)."""
        backend = exchange.backend
        assert backend is not None
        dp = self.dp
        usable = dp.usable(backend)  # now: an EndpointSlice change may have come since routing
        if not usable:
            self.answer(exchange, 503)
            return None
        endpoint = dp.balancers.pick(backend, usable, exchange.tried, exchange)
        if endpoint is None:
            self.answer(exchange, 502)
            return None
        exchange.endpoint = endpoint
        exchange.tried.append(endpoint.address)
        exchange.upstream_started = dp.loop.time()
        return endpoint

    def _read_timeout(self, route: Route) -> float:
        timeout = route.upstream.read_timeout
        return timeout if timeout is not None else self.dp.settings.upstream_read_timeout

    def connected(
        self, exchange: Exchange, upstream: UpstreamConnection, read_timeout: float
    ) -> None:
        """A new upstream connection for `exchange` is open."""
        if exchange is not self.active or self.closed:
            upstream.pool.release(upstream)
            return
        self._send(exchange, upstream, read_timeout)

    def upstream_failed(self, exchange: Exchange, reason: str, stale: bool) -> None:
        """The upstream failed before any response byte: retry or answer 502/504."""
        dp = self.dp
        if exchange is not self.active or self.closed:
            return
        backend_key = exchange.backend.key if exchange.backend is not None else ""
        dp.stats.upstream_failed(backend_key, reason)
        exchange.upstream = None
        retry = self._retry(exchange, reason, stale)
        if retry:
            self._forward_again(exchange, retry)
            return
        timeout = reason in ("connect_timeout", "read_timeout", "send_timeout")
        self.answer(exchange, 504 if timeout else 502)

    def _retry(self, exchange: Exchange, reason: str, stale: bool) -> str:
        """Why the route's proxy-next-upstream policy sends `exchange` again; '' if not."""
        route = exchange.route
        assert route is not None
        policy = policy_of(route.upstream.retry, self.dp.settings.max_retries)
        replayable = exchange.replay is not None
        if stale and may_reconnect(policy, exchange.method, replayable):
            # A keep-alive connection the upstream had already closed: not a real failure.
            exchange.fresh = True
            exchange.tried.pop()
            return "stale_connection"
        backend = exchange.backend
        if backend is not None and len(exchange.tried) >= len(self.dp.usable(backend)):
            return ""  # no other endpoint: the last answer stands (504 after a timeout)
        elapsed = self.dp.loop.time() - exchange.started_at
        retry = may_retry(policy, reason, exchange.method, replayable, len(exchange.tried),
                          elapsed)
        return reason if retry else ""

    def _forward_again(self, exchange: Exchange, reason: str) -> None:
        """Send `exchange` again, and say so: every retry is logged and counted by reason."""
        dp = self.dp
        dp.stats.retried(reason)
        endpoint = exchange.endpoint
        backend = exchange.backend
        log.info(
            "retrying upstream request",
            extra={
                "reason": reason,
                "method": exchange.method.decode("latin-1"),
                "backend": backend.key if backend is not None else "",
                "endpoint": f"{endpoint.ip}:{endpoint.port}" if endpoint else "",
            },
        )
        if exchange.replay:
            exchange.outbox[:0] = exchange.replay
        exchange.replay = []
        self._forward(exchange)

    def upstream_intercepted(self, exchange: Exchange, status: int) -> bool:
        """The pod answered `status`, which the route intercepts: retry it, or ask the error
        Service. True when one of them takes over (the pod's response is then dropped)."""
        if exchange is not self.active or self.closed or exchange.error_page:
            return False
        route = exchange.route
        assert route is not None
        retry = route.upstream.retry
        if retry is not None and status in retry.statuses and self._retry(
                exchange, f"http_{status}", False):
            exchange.upstream = None
            self.dp.loop.call_soon(self._forward_again, exchange, f"http_{status}")
            return True
        errors = route.errors
        if errors is None or status not in errors.codes:
            return False
        exchange.upstream = None
        exchange.error_page = True
        exchange.response_filters = ()
        exchange.backend = errors.backend
        exchange.tried = []
        exchange.fresh = False
        exchange.outbox[:] = [error_request(exchange, route, status, self.client_ip)]
        exchange.replay = []
        self.dp.loop.call_soon(self._forward, exchange)
        return True

    def _finished(self, exchange: Exchange, status: int) -> None:
        """Count (and log) a request whose answer is complete, or that was given up on."""
        dp = self.dp
        now = dp.loop.time()
        if dp.metrics:
            stats = dp.stats
            series = stats.request_done(
                exchange.route_labels(), status, exchange.method,
                now - exchange.started_at, exchange.request_bytes + exchange.body_bytes,
                exchange.sent_bytes,
            )
            if exchange.headers_at:  # an upstream answered
                start = exchange.upstream_started
                stats.upstream_timed(series, exchange.sent_at - start,
                                     exchange.headers_at - start, now - start)
        if dp.access_log is not None and (exchange.route is None or exchange.route.access_log):
            dp.access_log.log(self, exchange, status, now)
        trace = exchange.trace
        if trace is not None and trace.sampled and dp.tracer is not None:
            dp.tracer.finish(finished_request(exchange, status, now, dp.epoch_offset))
        if exchange.on_end is not None:
            exchange.end()

    def _observe(self, exchange: Exchange) -> None:
        """A complete upstream response: ingress-nginx's EWMA sample (connect plus response)."""
        if exchange.headers_at and exchange.endpoint is not None:
            dp = self.dp
            dp.balancers.observe(exchange.endpoint, dp.loop.time() - exchange.upstream_started)
