"""HTTPRoutes → candidate routes on the listeners they attach to, and their parent status.

A parentRef attaches a route to the listeners of one of our Gateways that
its sectionName and port select, that admit the route's namespace and
kind, and whose hostname intersects the route's hostnames; the first of
those checks to leave no listener gives the reason it is not Accepted
(NoMatchingParent, NotAllowedByListeners, NoMatchingListenerHostname).

Each match of each rule becomes one candidate per host and listener
protocol. A rule that cannot be served as written is reported in the
PartiallyInvalid condition; when its matches are usable it answers 500
rather than letting its requests fall through to other routes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ingress.build.backends import BackendResolver
from ingress.build.fields import FieldError, mapping, optional_str, sequence
from ingress.build.gateway.backends import BackendRefs, ResolvedRef
from ingress.build.gateway.filters import RuleFilters, parse_filters, rule_filters
from ingress.build.gateway.gateways import Gateway, Gateways, Listener
from ingress.build.gateway.grants import ReferenceGrants
from ingress.build.gateway.hostnames import parse_hostname, route_hosts
from ingress.build.gateway.matches import DEFAULT_MATCH, MatchSpec, parse_match
from ingress.build.gateway.namespaces import Namespaces
from ingress.build.gateway.objects import age, generation
from ingress.build.gateway.status import (
    FALSE,
    GROUP,
    TRUE,
    Condition,
    ParentStatus,
    RouteStatus,
)
from ingress.model import (
    DEFAULT_UPSTREAM,
    Backend,
    BackendSplit,
    ObjectRef,
    Problem,
    Route,
    RouteMatch,
    UpstreamPolicy,
    WeightedBackend,
)
from ingress.model.filters.base import in_phase_order
from ingress.model.filters.core import DirectResponse
from ingress.store import Body, Key

_DURATION = re.compile(r"(?:(\d{1,5})(h|ms|m|s)){1,4}")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# Rule fields Portico does not act on: reported, not silently dropped.
_IGNORED_RULE_FIELDS = ("retry", "sessionPersistence")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One route a match of a rule asks for on one host (before precedence is decided)."""

    route: Route
    # Bigger conditions first, then the older route, then namespace/name, rule, match.
    order: tuple[Any, ...]
    field: str


@dataclass(frozen=True, slots=True)
class DroppedRule:
    """A rule that cannot be served as written (the PartiallyInvalid condition's words)."""

    index: int
    field: str
    message: str
    answers_500: bool

    def __str__(self) -> str:
        instead = " (answers 500)" if self.answers_500 else ""
        return f"Dropped Rule {self.index}{instead}: {self.field}: {self.message}"


@dataclass(slots=True)
class _Rule:
    index: int
    matches: list[MatchSpec]
    filters: RuleFilters
    backend: Backend
    split: BackendSplit | None = None
    upstream: UpstreamPolicy = DEFAULT_UPSTREAM


@dataclass(slots=True)
class HTTPRoutes:
    candidates: list[Candidate] = field(default_factory=list)
    statuses: list[RouteStatus] = field(default_factory=list)
    # By route, the hosts each of its parents (in status order) serves it on.
    served_hosts: dict[ObjectRef, list[frozenset[str]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def with_secure(conditions: RouteMatch | None, secure: bool | None) -> RouteMatch | None:
    """`conditions` restricted to plain or TLS requests; None when nothing is left to check."""
    if conditions is None:
        return None if secure is None else RouteMatch(secure=secure)
    if secure is None and conditions.method is None and not conditions.headers and (
            not conditions.query):
        return None
    return replace(conditions, secure=secure)


def _duration(raw: Any, at: str) -> float | None:
    """A Gateway API Duration in seconds; None when absent or zero (no route-specific limit)."""
    text = optional_str(raw, at)
    if not text:
        return None
    if not _DURATION.fullmatch(text):
        raise FieldError(at, f"{text!r} is not a duration like 500ms, 10s or 1h30m",
                         "UnsupportedValue")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in re.findall(r"(\d+)(h|ms|m|s)", text))
    return seconds or None


def _upstream(rule: Mapping[str, Any], at: str, host: str | None) -> UpstreamPolicy:
    timeouts = mapping(rule.get("timeouts"), f"{at}.timeouts")
    limits = [t for t in (_duration(timeouts.get("request"), f"{at}.timeouts.request"),
                          _duration(timeouts.get("backendRequest"),
                                    f"{at}.timeouts.backendRequest")) if t is not None]
    read_timeout = min(limits) if limits else None
    if host is None and read_timeout is None:
        return DEFAULT_UPSTREAM
    return UpstreamPolicy(read_timeout=read_timeout, host=host)


class _RouteParser:
    def __init__(self, key: Key, body: Body, resolver: BackendResolver,
                 grants: ReferenceGrants) -> None:
        self.ref = ObjectRef("HTTPRoute", *key)
        self.body = body
        self.generation = generation(body)
        self.created = age(body)
        self.refs = BackendRefs(self.ref, resolver, grants)
        self.dropped: list[DroppedRule] = []
        self.problems: list[Problem] = []

    def rules(self, spec: Mapping[str, Any]) -> list[_Rule]:
        rules = []
        for i, raw in enumerate(sequence(spec.get("rules"), "spec.rules")):
            at = f"spec.rules[{i}]"
            try:
                rule = mapping(raw, at)
                matches = [parse_match(j, m, f"{at}.matches[{j}]") for j, m in
                           enumerate(sequence(rule.get("matches"), f"{at}.matches")
                                     or [DEFAULT_MATCH])]
            except FieldError as error:
                self.dropped.append(DroppedRule(i, error.field, error.message, False))
                continue
            rules.append(self._rule(i, at, rule, matches))
        return rules

    def _rule(self, index: int, at: str, rule: Mapping[str, Any],
              matches: list[MatchSpec]) -> _Rule:
        refs: list[ResolvedRef] = []
        try:
            raw_refs = sequence(rule.get("backendRefs"), f"{at}.backendRefs")
            refs = [self.refs.resolve(r, f"{at}.backendRefs[{i}]") for i, r in enumerate(raw_refs)]
            filters = parse_filters(rule.get("filters"), f"{at}.filters", self.refs)
            self._backend_filters(filters, raw_refs, at)
            filters.check(matches, at)
            upstream = _upstream(rule, at, filters.rewrite_host)
        except FieldError as error:
            return self._broken(index, matches, error.field, error.message, refs)
        if filters.unsupported is not None:
            return self._broken(index, matches, *filters.unsupported, refs)
        for name in _IGNORED_RULE_FIELDS:
            if rule.get(name) is not None:
                self.problems.append(Problem(self.ref, f"{at}.{name}", "is not supported by "
                                             "Portico and has no effect", "UnsupportedValue"))
        result = _Rule(index, matches, filters, _placeholder(self.ref, refs), upstream=upstream)
        valid = [r for r in refs if r.backend is not None]
        if len(refs) == 1 and valid and refs[0].weight > 0:
            result.backend = refs[0].backend or result.backend
        elif valid:
            result.backend = valid[0].backend or result.backend
            result.split = BackendSplit(tuple(WeightedBackend(r.backend, r.weight)
                                              for r in refs))
        elif filters.redirect is None:
            # No backend to send to (none given, or none resolved): 500, as the spec says.
            result.filters = RuleFilters(request=[DirectResponse(500)])
        return result

    def _backend_filters(self, filters: RuleFilters, raw_refs: Any, at: str) -> None:
        """Filters of a rule's only backendRef act as the rule's own; of one of several
        weighted backends, Portico cannot apply them."""
        with_filters = [i for i, r in enumerate(raw_refs)
                        if isinstance(r, Mapping) and r.get("filters")]
        if not with_filters:
            return
        where = f"{at}.backendRefs[{with_filters[0]}].filters"
        if len(raw_refs) > 1:
            raise FieldError(where, "filters of one of several backendRefs are not supported "
                             "(put them on the rule)", "UnsupportedValue")
        extra = parse_filters(raw_refs[0]["filters"], where, self.refs)
        filters.request += extra.request
        filters.response += extra.response
        filters.unsupported = filters.unsupported or extra.unsupported
        if extra.redirect or extra.rewrite_path or extra.rewrite_host:
            raise FieldError(where, "RequestRedirect and URLRewrite belong on the rule",
                             "UnsupportedValue")

    def _broken(self, index: int, matches: list[MatchSpec], field: str, message: str,
                refs: list[ResolvedRef]) -> _Rule:
        self.dropped.append(DroppedRule(index, field, message, True))
        return _Rule(index, matches, RuleFilters(request=[DirectResponse(500)]),
                     _placeholder(self.ref, refs))

    def hostnames(self, spec: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(
            parse_hostname(optional_str(h, f"spec.hostnames[{i}]"), f"spec.hostnames[{i}]")
            for i, h in enumerate(sequence(spec.get("hostnames"), "spec.hostnames"))))

    def candidates(self, rules: list[_Rule], listener: Listener,
                   hosts: tuple[str, ...]) -> list[Candidate]:
        found = []
        namespace, name = self.ref.namespace, self.ref.name
        for rule in rules:
            for match in rule.matches:
                request, response = rule_filters(rule.filters, match, listener.scheme,
                                                 listener.port)
                conditions = match.conditions
                precedence = conditions.precedence if conditions is not None else (0, 0, 0)
                order = (*(-p for p in precedence), self.created, namespace, name, rule.index,
                         match.index)
                at = f"spec.rules[{rule.index}].matches[{match.index}]"
                for host in hosts:
                    route = Route(
                        match.path, match.path_type, rule.backend, self.ref, host,
                        regex=match.regex, match=with_secure(conditions, listener.secure),
                        filters=in_phase_order(request), response_filters=tuple(response),
                        split=rule.split, upstream=rule.upstream,
                    )
                    found.append(Candidate(route, order, at))
        return found


def _placeholder(route: ObjectRef, refs: list[ResolvedRef]) -> Backend:
    """The backend a route that never forwards names in its metrics."""
    return Backend(route.namespace, refs[0].name if refs else "", "")


def _parent_ref(raw: Any, at: str, namespace: str) -> dict[str, Any] | None:
    """The parentRef with its defaults filled in; None when it is not a Gateway."""
    parent = mapping(raw, at)
    group = optional_str(parent.get("group"), f"{at}.group") or GROUP
    kind = optional_str(parent.get("kind"), f"{at}.kind") or "Gateway"
    if (group, kind) != (GROUP, "Gateway"):
        return None
    ref: dict[str, Any] = {
        "group": group, "kind": kind,
        "namespace": optional_str(parent.get("namespace"), f"{at}.namespace") or namespace,
        "name": optional_str(parent.get("name"), f"{at}.name"),
    }
    if parent.get("sectionName") is not None:
        ref["sectionName"] = optional_str(parent["sectionName"], f"{at}.sectionName")
    if parent.get("port") is not None:
        ref["port"] = parent["port"]
    return ref


Attachment = tuple[Listener, tuple[str, ...]]  # a listener and the route's hosts on it


def _attach(gateway: Gateway, parent: Mapping[str, Any], namespace: str,
            hostnames: tuple[str, ...],
            namespaces: Namespaces) -> tuple[tuple[str, str], list[Attachment]]:
    """(Accepted reason, message) and the listeners the route attaches to, with its hosts
    (Conflicted listeners too: they count it among their attachedRoutes, not serve it)."""
    section, port = parent.get("sectionName"), parent.get("port")
    selected = [ls for ls in gateway.listeners
                if (section is None or ls.name == section) and (port is None or ls.port == port)]
    if not selected:
        return ("NoMatchingParent", "the Gateway has no listener with that sectionName and "
                "port"), []
    allowed = [ls for ls in selected if ls.rejected is None and "HTTPRoute" in ls.kinds
               and ls.allowed.admits(namespace, gateway.ref.namespace, namespaces)]
    if not allowed:
        return ("NotAllowedByListeners", "no listener admits HTTPRoutes of namespace "
                f"{namespace}"), []
    attached = [(ls, hosts) for ls in allowed if (hosts := route_hosts(ls.hostname, hostnames))]
    if not attached:
        return ("NoMatchingListenerHostname", "no listener hostname intersects the route's "
                "hostnames"), []
    conflicts = [f"{ls.name}: {ls.conflict[1]}" for ls, _ in attached if ls.conflict is not None]
    if len(conflicts) == len(attached):
        return ("NotAllowedByListeners", "not served: its listeners are Conflicted ("
                + "; ".join(conflicts) + ")"), attached
    return ("Accepted", ""), attached


def _conditions(accepted: tuple[str, str], parser: _RouteParser, served: bool,
                rules: int) -> tuple[Condition, ...]:
    gen = parser.generation
    dropped = parser.dropped
    if served and rules and len(dropped) == rules:
        accepted = ("UnsupportedValue", "no rule can be served: " + "; ".join(map(str, dropped)))
    ok = accepted[0] == "Accepted"
    conditions = [Condition("Accepted", TRUE if ok else FALSE, *accepted, gen)]
    unresolved = parser.refs.unresolved
    if unresolved:
        message = "; ".join(map(str, unresolved))
        conditions.append(Condition("ResolvedRefs", FALSE, unresolved[0].reason, message, gen))
    else:
        conditions.append(Condition("ResolvedRefs", TRUE, "ResolvedRefs", "", gen))
    if ok and dropped:
        conditions.append(Condition("PartiallyInvalid", TRUE, "UnsupportedValue",
                                    "; ".join(map(str, dropped)), gen))
    return tuple(conditions)


def select_routes(
    bodies: Mapping[Key, Body],
    gateways: Gateways,
    namespaces: Namespaces,
    grants: ReferenceGrants,
    resolver: BackendResolver,
) -> HTTPRoutes:
    """Candidates and parent statuses of every HTTPRoute with a parentRef to our Gateways."""
    result = HTTPRoutes()
    for _, key, body in sorted((age(b), k, b) for k, b in bodies.items()):
        try:
            _route(key, body, gateways, namespaces, grants, resolver, result)
        except FieldError as error:
            result.problems.append(error.problem(ObjectRef("HTTPRoute", *key)))
        except Exception as error:  # one broken object must not stop the build
            result.problems.append(Problem(ObjectRef("HTTPRoute", *key), "",
                                           f"cannot be processed: {error!r}", "InternalError"))
    return result


def _route(key: Key, body: Body, gateways: Gateways, namespaces: Namespaces,
           grants: ReferenceGrants, resolver: BackendResolver, result: HTTPRoutes) -> None:
    spec = mapping(body.get("spec"), "spec")
    parents = []
    for i, raw in enumerate(sequence(spec.get("parentRefs"), "spec.parentRefs")):
        parent = _parent_ref(raw, f"spec.parentRefs[{i}]", key[0])
        if parent is not None and (parent["namespace"], parent["name"]) in gateways.by_key:
            parents.append(parent)
    if not parents:
        return  # not ours: another controller's route, or one whose Gateway is not ours
    parser = _RouteParser(key, body, resolver, grants)
    try:
        hostnames = parser.hostnames(spec)
        rules = parser.rules(spec)
        rule_count = len(sequence(spec.get("rules"), "spec.rules"))
        invalid: tuple[str, str] | None = None
    except FieldError as error:
        hostnames, rules, rule_count = (), [], 0
        invalid = ("UnsupportedValue", f"{error.field}: {error.message}")
        parser.problems.append(error.problem(parser.ref))
    statuses = []
    served_hosts: list[frozenset[str]] = []
    attached_to: set[int] = set()
    for parent in parents:
        gateway = gateways.by_key[(parent["namespace"], parent["name"])]
        listeners: list[Attachment] = []
        if gateway.rejected is not None or all(ls.rejected for ls in gateway.listeners):
            accepted = ("NoMatchingParent", "the Gateway is not accepted")
        else:
            accepted, listeners = _attach(gateway, parent, key[0], hostnames, namespaces)
        if invalid is not None and listeners:
            accepted, listeners = invalid, []
        served = [(ls, hosts) for ls, hosts in listeners if ls.conflict is None]
        conditions = _conditions(accepted, parser, bool(served), rule_count)
        statuses.append(ParentStatus(parent, conditions))
        ok = conditions[0].status == TRUE
        served_hosts.append(frozenset(host for listener, hosts in served if ok
                                      and listener.programmed for host in hosts))
        conflicted_only = bool(listeners) and not served
        if not ok and not conflicted_only:
            continue
        for listener, hosts in listeners:
            if id(listener) not in attached_to:
                attached_to.add(id(listener))
                listener.attached_routes += 1
            if listener.programmed and ok:
                result.candidates += parser.candidates(rules, listener, hosts)
    result.statuses.append(RouteStatus(parser.ref, tuple(statuses)))
    result.served_hosts[parser.ref] = served_hosts
    result.problems += parser.problems
    result.problems += [Problem(parser.ref, d.field, d.message, "UnsupportedValue")
                        for d in parser.dropped]
    result.problems += [Problem(parser.ref, u.field, u.message, u.reason)
                        for u in parser.refs.unresolved]
