"""AdmissionReviews of Ingresses, answered by the builder: errors reject, the rest warns."""

from __future__ import annotations

from typing import Any

import pytest
from build_objects import NOW, ingress, path, rule, service, snapshot

from ingress.admission.review import review
from ingress.observability.admission_metrics import AdmissionCheck
from ingress.settings import BuildSettings

P = "nginx.ingress.kubernetes.io/"
STORED = snapshot([service("web"), ingress("old", [rule("shop.example", path("/cart"))])])


def reviewed(body: dict[str, Any], operation: str = "CREATE", kind: str = "Ingress",
             objects: Any = STORED) -> tuple[dict[str, Any], AdmissionCheck | None]:
    document = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {"uid": "u-1", "kind": {"group": "networking.k8s.io",
                                                   "version": "v1", "kind": kind},
                            "namespace": "default", "operation": operation, "object": body}}
    answer, check = review(document, objects, BuildSettings(), NOW)
    assert answer["kind"] == "AdmissionReview" and answer["response"]["uid"] == "u-1"
    response: dict[str, Any] = answer["response"]
    return response, check


def admission(body: dict[str, Any], operation: str = "CREATE", kind: str = "Ingress",
              objects: Any = STORED) -> dict[str, Any]:
    return reviewed(body, operation, kind, objects)[0]


def new(*paths: dict[str, Any], annotations: dict[str, str] | None = None,
        class_name: str | None = "portico", host: str = "shop.example") -> dict[str, Any]:
    body = ingress("new", [rule(host, *paths)], annotations=annotations, class_name=class_name)
    del body["metadata"]["creationTimestamp"]  # the API server has not set it yet
    return body


def test_an_ingress_served_as_written_is_allowed_silently() -> None:
    assert admission(new(path("/"))) == {"uid": "u-1", "allowed": True}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (new(path("relative")),
         "spec.rules[0].http.paths[0].path: must be absolute (start with '/'), not 'relative'"),
        (new(path("/"), annotations={P + "proxy-read-timeout": "soon"}),
         f'metadata.annotations["{P}proxy-read-timeout"]: must be a positive number of seconds'),
        (new(path("/"), annotations={P + "configuration-snippet": "deny all;"}),
         f'metadata.annotations["{P}configuration-snippet"]: snippets are not supported'),
        # The older Ingress keeps the path; the new one would lose it.
        (new(path("/cart")), "spec.rules[0].http.paths[0]: host 'shop.example' Prefix path "
                             "'/cart' is already routed by Ingress default/old"),
        (new(path("/"), host="-bad-"), "spec.rules[0].host: '-bad-' is not a DNS name"),
        # Portico cannot authenticate the way it asks: its routes would answer 503.
        (new(path("/"), annotations={P + "auth-type": "digest", P + "auth-secret": "users"}),
         f'metadata.annotations["{P}auth-type"]: digest authentication is not supported'),
    ],
)
def test_what_would_not_be_served_as_written_is_rejected_naming_the_field(
    body: dict[str, Any], message: str
) -> None:
    response = admission(body)
    assert response["allowed"] is False
    assert response["status"]["code"] == 400
    assert response["status"]["message"].startswith(
        "Ingress default/new would not be served as written: " + message)


@pytest.mark.parametrize(
    ("body", "warning"),
    [
        (new(path("/", service="later")),
         "spec.rules[0].http.paths[0].backend.service.name: Service default/later not found"),
        (new(path("/"), annotations={P + "fastcgi-index": "index.php"}),
         f'metadata.annotations["{P}fastcgi-index"]: is not supported by Portico yet'),
        # The auth Secret may come after its Ingress (the routes answer 503 meanwhile).
        (new(path("/"), annotations={P + "auth-type": "basic", P + "auth-secret": "users"}),
         f'metadata.annotations["{P}auth-secret"]: Secret default/users not found'),
    ],
)
def test_what_may_not_exist_yet_or_is_not_supported_yet_is_a_warning(
    body: dict[str, Any], warning: str
) -> None:
    response = admission(body)
    assert response["allowed"] is True
    assert [w for w in response["warnings"] if w.startswith(warning)], response["warnings"]


def test_updating_the_older_ingress_keeps_its_path() -> None:
    old = ingress("old", [rule("shop.example", path("/cart"), path("/pay"))])
    assert admission(old, operation="UPDATE") == {"uid": "u-1", "allowed": True}


@pytest.mark.parametrize(
    ("body", "operation", "kind"),
    [
        (new(path("relative"), class_name="nginx"), "CREATE", "Ingress"),  # not our class
        (new(path("relative")), "DELETE", "Ingress"),
        (new(path("relative")), "CREATE", "Service"),
    ],
)
def test_other_classes_deletes_and_other_kinds_are_not_reviewed(
    body: dict[str, Any], operation: str, kind: str
) -> None:
    assert reviewed(body, operation, kind) == ({"uid": "u-1", "allowed": True}, None)


def test_a_review_says_what_it_checked_for_the_admission_metrics() -> None:
    unrelated = ingress("other", [rule("elsewhere.example", path("/"))])
    objects = snapshot([service("web"), unrelated,
                        ingress("old", [rule("shop.example", path("/cart"))])])
    response, check = reviewed(new(path("/")), objects=objects)
    assert response["allowed"] and check is not None
    # Built with the Ingress sharing its host, not with the unrelated one.
    assert (check.namespace, check.name, check.allowed, check.tested) == (
        "default", "new", True, 2)
    assert check.select_seconds >= 0 and check.build_seconds > 0
    response, check = reviewed(new(path("/cart")), objects=objects)
    assert not response["allowed"] and check is not None and not check.allowed
