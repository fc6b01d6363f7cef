"""Kubernetes objects → RoutingTable, purely: no I/O, no clock, no globals.

Owned Ingresses are processed oldest first (creationTimestamp, then
namespace/name), so when two claim the same host, path and pathType, or
both set a default backend, the older one keeps it and the newer one gets
a Conflict problem naming its field. That rule makes the table independent
of the order objects arrived in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ingress.build.annotations import Annotations, Lookups
from ingress.build.backends import BackendResolver, with_session_cookie
from ingress.build.certificates import CertificateLoader, covers
from ingress.build.classes import ClassSelector
from ingress.build.clientauth import guarded, guarded_claims, policy_of
from ingress.build.config.controller import DEFAULT_CONFIG, ControllerConfig
from ingress.build.config.headers import with_headers
from ingress.build.config.read import read_config
from ingress.build.endpoints import SliceIndex, index_slices
from ingress.build.fields import FieldError
from ingress.build.gateway import NO_STATUSES, serve_gateway_api
from ingress.build.hosts import wildcard_suffix, www_twin
from ingress.build.ingress import CanaryClaim, IngressRequest, PathClaim
from ingress.build.locations import virtual_host
from ingress.build.owned import owned_ingresses
from ingress.build.parse_cache import NO_CACHE, BuiltHost, CachingParser, ParseCache
from ingress.build.result import BuildResult
from ingress.build.tls import TLSAssigner, TLSAssignment
from ingress.model import (
    Backend,
    Certificate,
    ObjectRef,
    PathType,
    Problem,
    Route,
    RoutingTable,
    ServerTls,
    VirtualHost,
)
from ingress.model.filters.clientcert import ClientAuth
from ingress.settings import BuildSettings
from ingress.store import Snapshot


@dataclass(slots=True)
class _HostRoutes:
    # By location key, in claim order (oldest Ingress first).
    claims: dict[str, PathClaim] = field(default_factory=dict)
    app_root: Route | None = None
    aliases: tuple[str, ...] = ()


class _Routes:
    """Routes by host, first claim wins; canaries and host-wide settings added at the end."""

    def __init__(self) -> None:
        self.hosts: dict[str, _HostRoutes] = {}
        self.default_backend: Route | None = None
        self.problems: list[Problem] = []
        self.canaries: list[IngressRequest] = []
        self.www_redirects: dict[str, Route] = {}
        # By host: the client-certificate policy of its oldest Ingress that sets one,
        # and its TLS settings, each from the oldest Ingress that sets it.
        self.client_auth: dict[str, ClientAuth] = {}
        self.server_tls: dict[str, ServerTls] = {}
        # By host: the oldest Ingress asking for TLS passthrough.
        self.passthrough: dict[str, ObjectRef] = {}

    def add(self, request: IngressRequest) -> None:
        if request.canary:
            self.canaries.append(request)
            return
        for claim in request.paths:
            self._claim(claim)
        if request.server_tls is not None:
            for host in {claim.route.host for claim in request.paths}:
                self.server_tls[host] = request.server_tls.merged(self.server_tls.get(host))
        if request.ssl_passthrough:
            for host in {claim.route.host for claim in request.paths}:
                self.passthrough.setdefault(host, request.ref)
        for host, route in request.app_roots.items():
            self._host(host).app_root = self._host(host).app_root or route
        for host, aliases in request.aliases.items():
            self._host(host).aliases = self._host(host).aliases or aliases
        for name, route in request.www_redirects.items():
            self.www_redirects.setdefault(name, route)
        backend = request.default_backend
        if backend is None:
            return
        if self.default_backend is None:
            self.default_backend = backend
        else:
            self.problems.append(Problem(
                request.ref, "spec.defaultBackend",
                f"the default backend is already set by {self.default_backend.source}",
                "Conflict",
            ))

    def _host(self, name: str) -> _HostRoutes:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = _HostRoutes()
        return host

    def _claim(self, claim: PathClaim) -> None:
        route = claim.route
        policy = policy_of(route)
        if policy is not None:
            self.client_auth.setdefault(route.host, policy)
        host = self.hosts.get(route.host) or self._host(route.host)
        existing = host.claims.setdefault(claim.key, claim).route
        if existing is not route:
            self.problems.append(Problem(
                route.source, claim.field,
                f"host {route.host or '*'!r} {route.path_type.value} path {route.path!r} "
                f"is already routed by {existing.source}"
                + ("" if existing.path_type is route.path_type
                   else f" ({existing.path_type.value} path {existing.path!r})"),
                "Conflict",
            ))

    def _pass_through(self, vhost: VirtualHost, passthrough: dict[str, Backend]) -> None:
        backend, problem = _passthrough_problem(vhost)
        if backend is not None:
            passthrough[vhost.host] = backend
        else:
            self.problems.append(Problem(self.passthrough[vhost.host],
                                         Annotations.field("ssl-passthrough"), problem,
                                         "PassthroughNotPossible"))

    def merge_canaries(self) -> None:
        for request in self.canaries:
            for claim in request.canaries:
                problem = self._merge_canary(claim)
                if problem:
                    self.problems.append(Problem(request.ref, claim.field, problem,
                                                 "CanaryNotMerged"))
            if request.default_canary is not None:
                self._merge_default_canary(request)

    def _merge_canary(self, claim: CanaryClaim) -> str:
        """Add the canary to the route it names; what went wrong, or ''."""
        host = self.hosts.get(claim.host)
        primary = host.claims.get(claim.key) if host is not None else None
        where = f"host {claim.host or '*'!r} {claim.path_type.value} path {claim.path!r}"
        if primary is None or primary.route.path_type is not claim.path_type:
            return f"no Ingress routes {where}: a canary only adds to an existing route"
        route = primary.route
        if route.canary is not None:
            return f"{where} already has the canary of another Ingress"
        canary = claim.canary
        if canary.backend.key == route.backend.key:
            return f"the canary's backend {canary.backend.key} is the mainline's own"
        if claim.sticky:
            canary = replace(canary, backend=with_session_cookie(
                canary.backend, route.backend.session_cookie))
        assert host is not None
        host.claims[claim.key] = replace(primary, route=replace(route, canary=canary))
        return ""

    def _merge_default_canary(self, request: IngressRequest) -> None:
        canary, mainline = request.default_canary, self.default_backend
        assert canary is not None
        if mainline is None or mainline.canary is not None:
            self.problems.append(Problem(
                request.ref, "spec.defaultBackend",
                "no free default backend of another Ingress to add this canary to",
                "CanaryNotMerged"))
            return
        self.default_backend = replace(mainline, canary=canary)

    def table(self, tls: TLSAssignment, config: ControllerConfig, generation: int,
              previous: Mapping[str, BuiltHost]) -> tuple[RoutingTable, dict[str, BuiltHost]]:
        """The table, and how each virtual host without a client-auth policy was made
        (`previous`: the last build's, reused where made of the same claims)."""
        built: dict[str, BuiltHost] = {}
        hosts: dict[str, VirtualHost] = {}
        wildcards: dict[str, VirtualHost] = {}
        any_host: VirtualHost | None = None
        certificates = dict(tls.certificates)
        passthrough: dict[str, Backend] = {}
        for name, routes in self.hosts.items():
            policy = self.client_auth.get(name)
            app_root = routes.app_root
            if policy is not None and app_root is not None:
                app_root = guarded(app_root, policy)
            claims, has_tls = tuple(routes.claims.values()), name in tls.tls_hosts
            before = previous.get(name)
            if policy is None and before is not None and before.made_of(claims, has_tls,
                                                                       app_root):
                vhost = before.vhost
                built[name] = before
            else:
                vhost = virtual_host(name, guarded_claims(list(claims), policy), has_tls,
                                     app_root)
                if policy is None:
                    built[name] = BuiltHost(claims, has_tls, app_root, vhost)
            if policy is not None:
                vhost = replace(vhost, client_auth=policy)
            if name in self.server_tls:
                vhost = replace(vhost, server_tls=self.server_tls[name])
            if name in self.passthrough:
                self._pass_through(vhost, passthrough)
            if not name:
                any_host = vhost
            else:
                _place(vhost, hosts, wildcards)
        # ingress-nginx's redirect servers come before the aliases of other servers.
        for name, route in self.www_redirects.items():
            if name not in hosts:
                hosts[name] = VirtualHost(name, prefixes={"": route})
                _share_certificate(certificates, tls, www_twin(name), name)
        for name, routes in self.hosts.items():
            aliased = hosts.get(name) or wildcards.get(wildcard_suffix(name) or "")
            for alias in routes.aliases:
                if aliased is not None and not _taken(alias, hosts, wildcards):
                    shared = _share_certificate(certificates, tls, name, alias)
                    _place(replace(aliased, host=alias, tls=aliased.tls and shared), hosts,
                           wildcards)
        default_backend = self.default_backend
        any_host_policy = self.client_auth.get("")
        if default_backend is not None and any_host_policy is not None:
            default_backend = guarded(default_backend, any_host_policy)
        return RoutingTable(
            hosts=hosts,
            wildcards=wildcards,
            any_host=any_host,
            default_backend=default_backend,
            certificates=certificates,
            wildcard_certificates=tls.wildcard_certificates,
            default_certificate=tls.default_certificate,
            passthrough=passthrough,
            settings=config.settings,
            generation=generation,
        ), built


def _passthrough_problem(vhost: VirtualHost) -> tuple[Backend | None, str]:
    """The backend TLS connections for `vhost` go to, or why they cannot go anywhere."""
    if not vhost.host or wildcard_suffix(vhost.host) is not None:
        return None, (f"host {vhost.host or '*'!r} is not an exact name, which a ClientHello's "
                      "server name could match: TLS is terminated")
    root = next((route for route in vhost.routes() if route.path == "/"), None)
    if root is None:
        return None, (f"host {vhost.host!r} has no path '/', whose Service passthrough "
                      "connections go to (as in ingress-nginx): TLS is terminated")
    if root.backend.external_name:
        return None, (f"the Service of host {vhost.host!r}'s path '/' is an ExternalName: "
                      "TLS is terminated")
    return root.backend, ""


def _place(vhost: VirtualHost, hosts: dict[str, VirtualHost],
           wildcards: dict[str, VirtualHost]) -> None:
    suffix = wildcard_suffix(vhost.host)
    if suffix is None:
        hosts[vhost.host] = vhost
    else:
        wildcards[suffix] = vhost


def _taken(name: str, hosts: dict[str, VirtualHost], wildcards: dict[str, VirtualHost]) -> bool:
    suffix = wildcard_suffix(name)
    return name in hosts if suffix is None else suffix in wildcards


def _share_certificate(certificates: dict[str, Certificate], tls: TLSAssignment, host: str,
                       other: str) -> bool:
    """Serve the name `other` with `host`'s certificate if it names `other` (as ingress-nginx)."""
    suffix = wildcard_suffix(host)
    if suffix is not None:
        cert = tls.wildcard_certificates.get(suffix)
    else:
        dot = host.find(".")
        cert = tls.certificates.get(host) or tls.wildcard_certificates.get(host[dot + 1:])
    if cert is None or wildcard_suffix(other) is not None or not covers(cert, other):
        return False
    certificates.setdefault(other, cert)
    return True


def build(
    objects: Snapshot, settings: BuildSettings, now: float, generation: int = 0,
    slices: SliceIndex | None = None, cache: ParseCache = NO_CACHE,
) -> BuildResult:
    """The routing table of the Ingresses we own, and every problem found on the way.

    `now` (epoch seconds) decides which certificates have expired. `slices`
    are the snapshot's EndpointSlices already parsed (`index_slices`), as a
    caller that follows them one change at a time keeps them; `cache` is the
    previous build's `BuildResult.parse_cache` (the table is the same
    without it, only slower to make).
    """
    selector = ClassSelector.from_objects(objects.get("IngressClass", {}), settings)
    owned = owned_ingresses(objects.get("Ingress", {}), selector, cache.owned)
    if slices is None:
        slices = index_slices(objects.get("EndpointSlice", {}))
    resolver = BackendResolver(objects.get("Service", {}), slices,
                               external_names=not settings.disable_svc_external_name)
    tls = TLSAssigner(CertificateLoader(objects.get("Secret", {}), now))
    tls.add_default(settings.default_ssl_certificate)
    problems: list[Problem] = []
    lookups = _lookups(objects, settings, resolver, now, problems)
    parser = CachingParser(cache, (settings, lookups.config, lookups.default_backend), resolver,
                           lookups)
    routes = _Routes()
    refs = []
    for _, key, body in owned.order:
        request = parser.parse(key, body)
        refs.append(request.ref)
        problems.extend(request.problems)
        routes.add(request)
        tls.add(request)
    routes.merge_canaries()
    if routes.default_backend is None and lookups.default_backend is not None:
        routes.default_backend = _controller_default_route(lookups)
    table, built_hosts = routes.table(tls.result, lookups.config, generation, parser.hosts)
    referenced = set(tls.result.referenced_secrets | lookups.referenced_secrets)
    gateway_statuses = NO_STATUSES
    if settings.gateway_api:
        gateway = serve_gateway_api(objects, settings.gateway_controller_name, resolver, now,
                                    table)
        table, gateway_statuses = gateway.table, gateway.statuses
        problems += gateway.problems
        referenced |= gateway.referenced_secrets
    endpoints, slice_problems = resolver.endpoint_sets()
    problems += [*routes.problems, *resolver.problems, *slice_problems, *tls.result.problems]
    return BuildResult(
        table=replace(table, endpoints=endpoints),
        backends_by_service=resolver.ports,
        routed_on_endpoints=frozenset(resolver.routed_on_endpoints),
        problems=tuple(problems),
        owned=tuple(refs),
        referenced_secrets=frozenset(referenced),
        referenced_config_maps=frozenset(lookups.referenced_config_maps),
        gateway=gateway_statuses,
        parse_cache=parser.cache(built_hosts, owned),
    )


def _lookups(objects: Snapshot, settings: BuildSettings, resolver: BackendResolver, now: float,
             problems: list[Problem]) -> Lookups:
    """The controller ConfigMap read, and what annotations may look up."""
    config_maps = objects.get("ConfigMap", {})
    lookups = Lookups(config_maps=config_maps, secrets=objects.get("Secret", {}),
                      backends=resolver, now=now, ssl_passthrough=settings.ssl_passthrough)
    if settings.configmap:
        key = _split_reference(settings.configmap)
        ref = ObjectRef("ConfigMap", *key)
        config, found = read_config(config_maps.get(key), ref)
        lookups.config = with_headers(config, config_maps, ref, found,
                                      lookups.referenced_config_maps)
        problems.extend(found)
        lookups.referenced_config_maps.add(key)
    else:
        lookups.config = DEFAULT_CONFIG
    if settings.default_backend_service:
        key = _split_reference(settings.default_backend_service)
        try:
            lookups.default_backend = resolver.first_port(*key)
        except FieldError as error:
            problems.append(error.problem(ObjectRef("Service", *key)))
    return lookups


def _split_reference(reference: str) -> tuple[str, str]:
    namespace, _, name = reference.rpartition("/")
    return namespace or "default", name


def _controller_default_route(lookups: Lookups) -> Route:
    """--default-backend-service answers what no Ingress routes, as in ingress-nginx."""
    backend = lookups.default_backend
    assert backend is not None
    config = lookups.config
    return Route("/", PathType.PREFIX, backend, ObjectRef("Service", backend.namespace,
                 backend.service), access_log=config.log_default_backend,
                 tracing=config.tracing_defaults if config.tracing else None)
