"""The README's Gateway API example and feature table say what the code does."""

from __future__ import annotations

from pathlib import Path

from build_objects import snapshot
from gateway_objects import SETTINGS, served

from ingress.build import build
from ingress.build.gateway.features import SUPPORTED_FEATURES
from ingress.model.filters.gateway import ReplacePrefixMatch, RequestRedirect, URLRewrite
from ingress.sources.manifests import parse_manifests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "gateway-api" / "gateway.yaml"
README = (ROOT / "README.md").read_text()


def test_the_readme_shows_the_example_file() -> None:
    assert f"```yaml\n{EXAMPLE.read_text()}```" in README


def test_the_example_routes_as_the_readme_says() -> None:
    result = build(snapshot(parse_manifests(EXAMPLE.read_text(), str(EXAMPLE))), SETTINGS,
                   now=1_750_000_000.0)
    assert result.problems == ()
    host = "shop.example.com"
    canary = served(result, host, "/", x_canary="yes")
    assert canary is not None and canary.backend.service == "echo-canary"
    split = served(result, host, "/")
    assert split is not None and split.split is not None
    assert [(w.backend.service if w.backend else None, w.weight)
            for w in split.split.backends] == [("echo", 90), ("echo-canary", 10)]
    api = served(result, host, "/api/v1/items")
    assert api is not None and api.filters == (URLRewrite(ReplacePrefixMatch("/api", "/")),)
    moved = served(result, host, "/old-shop/hats")
    assert moved is not None and moved.filters == (
        RequestRedirect(301, "http", host, None, ReplacePrefixMatch("/old-shop", "/shop")),)
    assert served(result, "other.org", "/") is None  # the listener takes *.example.com only


def test_every_feature_in_gateway_class_status_is_marked_supported_in_the_readme() -> None:
    rows = [line for line in README.splitlines() if line.startswith("| `")]
    for feature in SUPPORTED_FEATURES:
        [row] = [r for r in rows if f"`{feature}`" in r]
        assert row.rstrip().endswith("✓ |") or "| ✓ (" in row, row
