"""IngressClass selection: which Ingresses are ours, and others are ignored completely."""

from __future__ import annotations

from typing import Any

import pytest
from build_objects import ingress, ingress_class, path, rule, run, service

from ingress.settings import BuildSettings

OTHER = "k8s.io/ingress-nginx"


def bad_ingress(
    name: str, class_name: str | None, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """An Ingress with a broken path: a problem shows whether we looked at it at all."""
    return ingress(name, [rule("foo.com", path("relative"))], class_name=class_name,
                   annotations=annotations)


def owned(*objects: dict[str, Any], settings: BuildSettings | None = None) -> list[str]:
    result = run(*objects, service("web"), settings=settings)
    names = [ref.name for ref in result.owned]
    # Ingresses that are not ours get no problems either.
    assert sorted({p.obj.name for p in result.problems}) == sorted(names)
    return names


LEGACY = "kubernetes.io/ingress.class"


@pytest.mark.parametrize(
    ("classes", "ingress_args", "settings", "ours"),
    [
        ([ingress_class("portico")], ("portico", None), BuildSettings(), True),
        ([], ("portico", None), BuildSettings(), True),  # ours by name, no object yet
        ([ingress_class("portico", OTHER)], ("portico", None), BuildSettings(), False),
        ([ingress_class("edge")], ("edge", None), BuildSettings(), True),  # our controller
        ([ingress_class("nginx", OTHER)], ("nginx", None), BuildSettings(), False),
        ([], ("nginx", None), BuildSettings(), False),
        ([], (None, {LEGACY: "portico"}), BuildSettings(), True),
        ([], (None, {LEGACY: "nginx"}), BuildSettings(), False),
        ([ingress_class("edge")], (None, {LEGACY: "edge"}), BuildSettings(), False),
        ([], (None, None), BuildSettings(), False),
        ([], (None, None), BuildSettings(watch_ingress_without_class=True), True),
        ([ingress_class("portico", default=True)], (None, None), BuildSettings(), True),
        ([ingress_class("nginx", OTHER, default=True)], (None, None), BuildSettings(), False),
        ([], ("edge", None), BuildSettings(ingress_class="edge"), True),
        # The class field wins over the legacy annotation.
        ([], ("nginx", {LEGACY: "portico"}), BuildSettings(), False),
    ],
)
def test_class_selection(
    classes: list[dict[str, object]],
    ingress_args: tuple[str | None, dict[str, str] | None],
    settings: BuildSettings,
    ours: bool,
) -> None:
    names = owned(*classes, bad_ingress("subject", *ingress_args), settings=settings)
    assert names == (["subject"] if ours else [])


def test_other_classes_do_not_route_or_conflict() -> None:
    mine = ingress("mine", [rule("foo.com", path("/"))], created="2024-06-01T00:00:00Z")
    theirs = ingress("theirs", [rule("foo.com", path("/", "other"))], class_name="nginx",
                     created="2024-01-01T00:00:00Z")
    result = run(mine, theirs, service("web"), service("other"))
    assert result.problems == ()
    route = result.table.route("foo.com", "/")
    assert route is not None and route.source.name == "mine"
