"""Typed settings for `portico run`, from flags and `PORTICO_*` environment variables.

Each field carries its own flag help, so the CLI, the environment and the
defaults cannot drift apart: `add_arguments` generates the flags from the
dataclass, and the Helm chart's tests check every rendered flag against
`portico run --help`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

DEFAULT_INGRESS_CLASS = "portico"
DEFAULT_CONTROLLER_NAME = "portico.dev/ingress-controller"
DEFAULT_GATEWAY_CONTROLLER_NAME = "portico.dev/gateway-controller"


def _flag(help_text: str, **extra: Any) -> Any:
    return {"help": help_text, **extra}


def _default_workers() -> int:
    """CPUs this process may use: affinity, then the cgroup v2 CPU quota."""
    cpus = len(os.sched_getaffinity(0))
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            quota, period = fh.read().split()
        if quota != "max":
            cpus = min(cpus, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


@dataclass(frozen=True, slots=True)
class BuildSettings:
    """What the pure builder needs to know about this controller."""

    ingress_class: str = DEFAULT_INGRESS_CLASS
    controller_name: str = DEFAULT_CONTROLLER_NAME
    watch_ingress_without_class: bool = False
    default_ssl_certificate: str | None = None  # "namespace/name"
    gateway_api: bool = False
    gateway_controller_name: str = DEFAULT_GATEWAY_CONTROLLER_NAME
    configmap: str | None = None  # "namespace/name" of the controller ConfigMap
    default_backend_service: str | None = None  # "namespace/name"
    disable_svc_external_name: bool = False
    ssl_passthrough: bool = False  # --enable-ssl-passthrough


@dataclass(frozen=True, slots=True)
class Settings:
    # --- sources
    kubeconfig: str | None = field(
        default=None,
        metadata=_flag("kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)"),
    )
    manifests: str | None = field(
        default=None, metadata=_flag("serve the objects in this directory instead of a cluster")
    )
    watch_namespace: str | None = field(
        default=None, metadata=_flag("watch only this namespace (default: all)")
    )
    ingress_class: str = field(
        default=DEFAULT_INGRESS_CLASS, metadata=_flag("IngressClass name this controller serves")
    )
    controller_name: str = field(
        default=DEFAULT_CONTROLLER_NAME, metadata=_flag("spec.controller of our IngressClasses")
    )
    watch_ingress_without_class: bool = field(
        default=False, metadata=_flag("also serve Ingresses that name no class")
    )
    publish_address: str | None = field(
        default=None, metadata=_flag("comma-separated IPs/hostnames for Ingress status")
    )
    publish_service: str | None = field(
        default=None,
        metadata=_flag("ns/name of the Service whose address goes into Ingress status"),
    )
    election_id: str = field(default="portico-leader", metadata=_flag("name of the leader Lease"))
    controller_namespace: str | None = field(
        default=None,
        metadata=_flag("namespace of the Lease (default: $POD_NAMESPACE or 'default')"),
    )
    election_lease_duration: float = field(
        default=15.0, metadata=_flag("leader Lease duration, s (followers wait this long)")
    )
    election_renew_deadline: float = field(
        default=10.0, metadata=_flag("leader gives up leading if it cannot renew for this long, s")
    )
    election_retry_period: float = field(
        default=2.0, metadata=_flag("interval of leader Lease renewals and acquisition tries, s")
    )
    default_ssl_certificate: str | None = field(
        default=None, metadata=_flag("ns/name of the TLS Secret for unknown hosts")
    )
    # --- Gateway API
    gateway_api: bool = field(
        default=False,
        metadata=_flag("also serve Gateway API GatewayClasses, Gateways and HTTPRoutes"),
    )
    gateway_controller_name: str = field(
        default=DEFAULT_GATEWAY_CONTROLLER_NAME,
        metadata=_flag("spec.controllerName of our GatewayClasses"),
    )
    # --- ingress-nginx compatibility
    configmap: str | None = field(
        default=None,
        metadata=_flag("ns/name of ingress-nginx's controller ConfigMap: its keys become the "
                       "defaults, ingress-nginx's defaults for keys it leaves out"),
    )
    default_backend_service: str | None = field(
        default=None,
        metadata=_flag("ns/name of the Service answering unrouted requests and custom-http-errors"),
    )
    dns_server: str | None = field(
        default=None,
        metadata=_flag("host[:port] resolving ExternalName Services (default: /etc/resolv.conf)"),
    )
    disable_svc_external_name: bool = field(
        default=False, metadata=_flag("ExternalName Services have no endpoints (they can name "
                                      "any host)")
    )
    # --- listeners
    bind: str = field(default="0.0.0.0", metadata=_flag("address of the traffic listeners"))
    http_port: int = field(default=8080, metadata=_flag("plain HTTP port"))
    https_port: int = field(default=8443, metadata=_flag("HTTPS port (0 disables TLS)"))
    admin_bind: str = field(default="0.0.0.0", metadata=_flag("address of the admin listener"))
    admin_port: int = field(default=10254, metadata=_flag("admin port: /healthz /readyz /metrics"))
    workers: int = field(
        default_factory=_default_workers, metadata=_flag("proxy worker processes (default: CPUs)")
    )
    # --- proxy behaviour
    connect_timeout: float = field(default=5.0, metadata=_flag("upstream connect timeout, s"))
    upstream_read_timeout: float = field(
        default=60.0, metadata=_flag("upstream idle read timeout, s")
    )
    client_header_timeout: float = field(
        default=60.0,
        metadata=_flag("time to receive a request's headers (a new connection's first too), s"),
    )
    client_body_timeout: float = field(
        default=60.0, metadata=_flag("longest pause while receiving a request body, s (408)")
    )
    tls_handshake_timeout: float = field(
        default=10.0, metadata=_flag("time for a client to complete the TLS handshake, s")
    )
    keepalive_timeout: float = field(default=75.0, metadata=_flag("client keep-alive idle, s"))
    keepalive_requests: int = field(
        default=0, metadata=_flag("requests per client connection, then it closes (0: no limit)")
    )
    tunnel_idle_timeout: float = field(
        default=3600.0, metadata=_flag("idle timeout of WebSocket/upgrade tunnels, s")
    )
    max_header_size: int = field(
        default=32768,
        metadata=_flag("max request header (and trailer) bytes, 431 beyond; also the max "
                       "response header bytes, 502 beyond"),
    )
    max_url_size: int = field(default=8192, metadata=_flag("max request target bytes (414 beyond)"))
    max_connections: int = field(
        default=16384,
        metadata=_flag("client connections per worker; at the limit it stops accepting (0: none)"),
    )
    max_pipelined_requests: int = field(
        default=32,
        metadata=_flag("requests queued on one connection; past them it closes after answering"),
    )
    max_body_size: int = field(
        default=0, metadata=_flag("max request body bytes, 0 = unlimited (413 beyond)")
    )
    upstream_keepalive: int = field(
        default=64, metadata=_flag("idle keep-alive connections kept per endpoint")
    )
    http2: bool = field(
        default=True,
        metadata=_flag("offer HTTP/2 to TLS clients (ALPN h2), as ingress-nginx's use-http2; "
                       "h2c on the HTTP port is not affected"),
    )
    http2_max_concurrent_streams: int = field(
        default=128, metadata=_flag("streams a client may open at once on one HTTP/2 connection")
    )
    upstream_keepalive_timeout: float = field(
        default=30.0, metadata=_flag("idle upstream connections are closed after this, s")
    )
    upstream_keepalive_requests: int = field(
        default=0, metadata=_flag("requests per upstream connection, then it closes (0: no limit)")
    )
    max_retries: int = field(default=2, metadata=_flag("tries on other endpoints after a failure"))
    non_idempotent_reuse_idle: float = field(
        default=1.0,
        metadata=_flag("a non-idempotent request (POST...) reuses an upstream connection only if "
                       "it was idle less than this, s; else it opens a new one (0: always new)"),
    )
    eject_after: int = field(
        default=3, metadata=_flag("consecutive connect failures that eject an endpoint")
    )
    eject_base: float = field(default=1.0, metadata=_flag("first ejection period, s (doubles)"))
    shutdown_delay: float = field(
        default=5.0, metadata=_flag("after SIGTERM, keep accepting this long (readiness is 503)")
    )
    shutdown_grace: float = field(
        default=30.0, metadata=_flag("after that, time for in-flight requests to finish, s")
    )
    # --- client addresses (ingress-nginx ConfigMap keys of the same names)
    trusted_proxies: str = field(
        default="",
        metadata=_flag("comma-separated CIDRs of the proxies in front: their forwarded headers "
                       "and PROXY headers are believed (implies --use-forwarded-headers)"),
    )
    use_forwarded_headers: bool = field(
        default=False,
        metadata=_flag("take the client address and X-Forwarded-Proto/Host/Port from peers in "
                       "--proxy-real-ip-cidr"),
    )
    proxy_real_ip_cidr: str = field(
        default="0.0.0.0/0,::/0",
        metadata=_flag("peers trusted with --use-forwarded-headers or --proxy-protocol, when "
                       "--trusted-proxies is not set"),
    )
    forwarded_for_header: str = field(
        default="X-Forwarded-For", metadata=_flag("header the client address is read from")
    )
    compute_full_forwarded_for: bool = field(
        default=False,
        metadata=_flag("append the peer to the incoming X-Forwarded-For instead of replacing it"),
    )
    proxy_protocol: bool = field(
        default=False,
        metadata=_flag("every connection starts with a PROXY protocol v1/v2 header (from a "
                       "TCP load balancer)"),
    )
    proxy_protocol_timeout: float = field(
        default=5.0, metadata=_flag("time to receive the PROXY protocol header, s")
    )
    # --- TLS
    tls_min_version: str = field(
        default="1.2", metadata=_flag("oldest TLS version accepted", choices=("1.2", "1.3"))
    )
    tls_max_version: str = field(
        default="1.3", metadata=_flag("newest TLS version accepted", choices=("1.2", "1.3"))
    )
    tls_ciphers: str = field(
        default="ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS",
        metadata=_flag("OpenSSL cipher list for TLS 1.2"),
    )
    https_redirect_port: int = field(default=443, metadata=_flag("port in HTTP→HTTPS redirects"))
    enable_ssl_passthrough: bool = field(
        default=False, metadata=_flag("TLS connections for hosts with the ssl-passthrough "
                                      "annotation go to their pods unopened (chosen by SNI)"))
    hsts: bool = field(default=False, metadata=_flag("send Strict-Transport-Security on HTTPS"))
    hsts_max_age: int = field(default=31536000, metadata=_flag("HSTS max-age, s"))
    hsts_include_subdomains: bool = field(
        default=False, metadata=_flag("add includeSubDomains to HSTS")
    )
    hsts_preload: bool = field(default=False, metadata=_flag("add preload to HSTS"))
    # --- admission webhook
    admission_port: int = field(
        default=0, metadata=_flag("port of the Ingress ValidatingAdmissionWebhook (0: off)")
    )
    admission_cert_file: str | None = field(
        default=None,
        metadata=_flag("webhook serving certificate (PEM), e.g. from cert-manager; "
                       "default: generate one and keep it in --admission-secret"),
    )
    admission_key_file: str | None = field(
        default=None, metadata=_flag("key of --admission-cert-file (PEM)")
    )
    admission_secret: str = field(
        default="portico-admission",
        metadata=_flag("Secret (in the controller namespace) holding the generated certificate"),
    )
    admission_service: str = field(
        default="portico-admission",
        metadata=_flag("Service (in the controller namespace) the API server calls the webhook by"),
    )
    admission_webhook: str | None = field(
        default=None,
        metadata=_flag("ValidatingWebhookConfiguration whose caBundle gets the generated CA"),
    )
    # --- observability
    log_format: str = field(
        default="json", metadata=_flag("json or text", choices=("json", "text"))
    )
    log_level: str = field(default="info", metadata=_flag("debug, info, warning, error"))
    access_log: bool = field(default=False, metadata=_flag("one log line per request"))
    access_log_format: str = field(
        default="json",
        metadata=_flag("json (fixed fields) or nginx (ingress-nginx's log-format-upstream)",
                       choices=("json", "nginx")),
    )
    enable_metrics: bool = field(
        default=True, metadata=_flag("record per-request metrics (/metrics always answers)")
    )
    metrics_per_host: bool = field(
        default=True, metadata=_flag("label request metrics with the Ingress rule's host")
    )
    generate_request_id: bool = field(
        default=True, metadata=_flag("give requests without X-Request-ID a generated one")
    )
    otlp_endpoint: str | None = field(
        default=None,
        metadata=_flag("export a span per request to this OTLP/HTTP collector, e.g. "
                       "http://otel-collector:4318 (needs the 'tracing' extra)"),
    )
    trace_sample_ratio: float = field(
        default=1.0, metadata=_flag("share of new traces sampled (incoming decisions are kept)")
    )

    @property
    def own_namespace(self) -> str:
        """The controller's namespace: its Lease, Secrets and Services live there."""
        return self.controller_namespace or os.environ.get("POD_NAMESPACE") or "default"

    def __post_init__(self) -> None:
        for flag, cidrs in (("trusted-proxies", self.trusted_proxies),
                            ("proxy-real-ip-cidr", self.proxy_real_ip_cidr)):
            try:
                ip_networks(cidrs)
            except ValueError as error:
                raise ValueError(f"--{flag}: {error}") from None
        if not self.forwarded_for_header.strip():
            raise ValueError("--forwarded-for-header: must name a header")

    @property
    def build(self) -> BuildSettings:
        return BuildSettings(
            ingress_class=self.ingress_class,
            controller_name=self.controller_name,
            watch_ingress_without_class=self.watch_ingress_without_class,
            default_ssl_certificate=self.default_ssl_certificate,
            gateway_api=self.gateway_api,
            gateway_controller_name=self.gateway_controller_name,
            configmap=self.configmap,
            default_backend_service=self.default_backend_service,
            disable_svc_external_name=self.disable_svc_external_name,
            ssl_passthrough=self.enable_ssl_passthrough,
        )


# Switched on by a flag, these stay on whatever the ConfigMap says: behind a TCP load
# balancer, a ConfigMap edit must not start taking its PROXY headers for requests.
_FLAG_WINS_WHEN_ON = ("proxy_protocol",)


def with_overrides(settings: Settings, overrides: Mapping[str, Any]) -> Settings:
    """`settings` with the fields the controller ConfigMap sets (by field name)."""
    changed = dict(overrides)
    for name in _FLAG_WINS_WHEN_ON:
        if name in changed:
            changed[name] = changed[name] or getattr(settings, name)
    return replace(settings, **changed)


def ip_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated CIDRs or addresses; ValueError names the bad item."""
    found = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR range") from None
    return tuple(found)


def _field_type(f: Any) -> type:
    text = str(f.type)
    for name, typ in (("bool", bool), ("int", int), ("float", float)):
        if text.startswith(name):
            return typ
    return str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One `--flag` per Settings field; the environment `PORTICO_FLAG` sets its default."""
    for f in fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        env = os.environ.get("PORTICO_" + f.name.upper())
        typ = _field_type(f)
        meta = dict(f.metadata)
        default: Any
        if typ is bool:
            default = env.lower() in ("1", "true", "yes") if env is not None else f.default
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=meta["help"]
            )
            continue
        if env is not None:
            default = typ(env)
        elif f.default is not MISSING:
            default = f.default
        else:
            default = None  # default_factory: resolved in from_args
        parser.add_argument(flag, type=typ, default=default, **meta)


def from_args(ns: argparse.Namespace) -> Settings:
    values = {f.name: getattr(ns, f.name) for f in fields(Settings)}
    values = {k: v for k, v in values.items() if v is not None or k in _NULLABLE}
    return Settings(**values)


_NULLABLE = frozenset(f.name for f in fields(Settings) if f.default is None)
