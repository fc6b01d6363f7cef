"""The file source against real files in a temporary directory and a real watcher."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from ingress.build import BuildResult
from ingress.pipeline import Reconciler
from ingress.settings import BuildSettings
from ingress.sources.files import ManifestDirectory, SourceError, run_file_source
from ingress.sources.manifests import ManifestError, parse_manifests

DEADLINE = 5.0


async def eventually(check: Callable[[], bool], what: str) -> float:
    """Poll until `check()` holds; returns how long it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > DEADLINE:
            raise AssertionError(f"not within {DEADLINE}s: {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def service(name: str, namespace: str | None = None, port: int = 80) -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}{ns}\n"
            f"spec:\n  ports:\n  - name: http\n    port: {port}\n")


@asynccontextmanager
async def watching(directory: Path, reconciler: Reconciler) -> AsyncIterator[None]:
    """The file source running on `directory` until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_file_source(str(directory), reconciler, stop))
    try:
        await eventually(lambda: reconciler.synced or task.done(), "first load")
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, DEADLINE)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Path, Reconciler]]:
    reconciler = Reconciler(BuildSettings(), [])
    async with watching(tmp_path, reconciler):
        yield tmp_path, reconciler


# --- parsing ---------------------------------------------------------------

def test_multi_document_yaml_defaults_namespaces_and_ignores_other_kinds() -> None:
    text = "\n---\n".join([
        service("hello"),
        "kind: IngressClass\nmetadata: {name: portico, namespace: ignored}\n"
        "spec: {controller: portico.dev/ingress-controller}",
        "kind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}",
        "kind: Deployment\nmetadata: {name: app}\nspec: {}",
        "",  # an empty document between separators
        "kind: Ingress\nmetadata: {name: web, namespace: shop}\nspec: {}",
    ])
    bodies = parse_manifests(text, "all.yaml")
    assert [(b["kind"], b["metadata"].get("namespace")) for b in bodies] == [
        ("Service", "default"), ("IngressClass", None), ("ConfigMap", "default"),
        ("Ingress", "shop"),
    ]


def test_kind_list_items_are_objects() -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": [
        {"kind": "Service", "metadata": {"name": "a"}},
        {"kind": "EndpointSlice", "metadata": {"name": "a-1", "namespace": "x"}},
    ]}
    bodies = parse_manifests(json.dumps(doc), "list.json")
    assert [(b["kind"], b["metadata"]["namespace"]) for b in bodies] == [
        ("Service", "default"), ("EndpointSlice", "x"),
    ]


def test_secret_string_data_becomes_base64_data() -> None:
    crt = base64.b64encode(b"CERT").decode()
    text = (f"kind: Secret\nmetadata: {{name: tls}}\ntype: kubernetes.io/tls\n"
            f"data:\n  tls.crt: |\n    {crt[:4]}\n    {crt[4:]}\n  tls.key: b2xk\n"
            f"stringData:\n  tls.key: new key\n")
    [secret] = parse_manifests(text, "secret.yaml")
    assert "stringData" not in secret
    assert secret["data"] == {"tls.crt": crt, "tls.key": base64.b64encode(b"new key").decode()}


@pytest.mark.parametrize(("filename", "text", "message"), [
    ("a.yaml", "kind: Service\nmetadata: {name: a}\n---\nkind: Service\nmetadata: {}\n",
     "a.yaml: document 2: metadata.name: missing"),
    ("a.yaml", "metadata: {name: a}\n", "a.yaml: document 1: kind: missing"),
    ("a.yaml", "kind: Service\n", "a.yaml: document 1: metadata: missing"),
    ("a.yaml", "- just\n- a list\n", "a.yaml: document 1: document: not a mapping"),
    ("a.yaml", "kind: Service\nmetadata: {name: a}\n---\nkind: [unclosed\n",
     "a.yaml: document 2: invalid YAML: line 5 column 1: did not find expected ',' or ']'"),
    ("a.json", '{"kind": "Service",', "a.json: document 1: invalid JSON:"),
    ("a.yaml", "kind: List\nitems:\n- kind: Service\n  metadata: {name: ok}\n- kind: Service\n",
     "a.yaml: document 1: items[1].metadata: missing"),
    ("a.yaml", "kind: List\nitems: {}\n", "a.yaml: document 1: items: must be a list"),
    ("a.yaml", "kind: Service\nmetadata: {name: a, namespace: 7}\n",
     "a.yaml: document 1: metadata.namespace: must be a string"),
    ("a.yaml", "kind: Secret\nmetadata: {name: s}\ndata: {tls.crt: '!!notbase64'}\n",
     "a.yaml: document 1: data.tls.crt: not valid base64"),
    ("a.yaml", "kind: Secret\nmetadata: {name: s}\nstringData: {port: 80}\n",
     "a.yaml: document 1: stringData.port: must be a string"),
])
def test_bad_manifest_is_rejected_naming_file_document_and_field(
        filename: str, text: str, message: str) -> None:
    with pytest.raises(ManifestError) as raised:
        parse_manifests(text, filename)
    assert str(raised.value).startswith(message)


# --- the directory ---------------------------------------------------------

def test_directory_skips_other_files_and_reports_duplicates(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "a.yaml").write_text(service("web", port=80))
    (tmp_path / "b.yml").write_text(service("web", port=81))
    (tmp_path / ".a.yaml.swp").write_text("not yaml: [")
    (tmp_path / "notes.txt").write_text("not yaml: [")
    directory = ManifestDirectory(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert directory.refresh()
        objects = directory.objects()
    [web] = objects["Service"]
    assert web["spec"]["ports"][0]["port"] == 81
    assert f"{tmp_path / 'b.yml'}: Service default/web is also defined in" in caplog.text
    assert not directory.refresh(), "nothing changed on disk"


def test_file_bad_from_the_start_is_skipped_until_fixed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "good.yaml").write_text(service("good"))
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"kind": "Service", "metadata": {"name": "caf\xe9"}}')
    directory = ManifestDirectory(tmp_path)
    with caplog.at_level(logging.ERROR):
        directory.refresh()
    assert [b["metadata"]["name"] for b in directory.objects()["Service"]] == ["good"]
    assert f"{bad}: not UTF-8 text (invalid continuation byte at byte 45); skipping it" in (
        caplog.text)
    bad.write_text('{"kind": "Service", "metadata": {"name": "fixed"}}')
    assert directory.refresh(["bad.json"])
    assert sorted(b["metadata"]["name"] for b in directory.objects()["Service"]) == [
        "fixed", "good"]


async def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a directory"):
        await run_file_source(str(tmp_path / "nope"), Reconciler(BuildSettings(), []),
                              asyncio.Event())


# --- watching --------------------------------------------------------------

async def test_initial_load_then_edits_apply_without_restart(
        running: tuple[Path, Reconciler]) -> None:
    directory, reconciler = running
    store = reconciler.store
    assert store.snapshot()["Service"] == {}
    (directory / "svc.yaml").write_text(service("hello"))
    await eventually(lambda: store.get("Service", "default", "hello") is not None, "file added")
    (directory / "svc.yaml").write_text(service("hello", port=8080))
    await eventually(
        lambda: (store.get("Service", "default", "hello") or {})["spec"]["ports"][0]["port"]
        == 8080, "file edited")


async def test_broken_edit_keeps_last_good_version(
        running: tuple[Path, Reconciler], caplog: pytest.LogCaptureFixture) -> None:
    directory, reconciler = running
    path = directory / "svc.yaml"
    path.write_text(service("hello") + "---\n" + service("other"))
    store = reconciler.store
    await eventually(lambda: store.get("Service", "default", "other") is not None, "load")
    with caplog.at_level(logging.ERROR, logger="ingress.sources.files"):
        path.write_text(service("hello") + "---\nkind: Service\nmetadata: {namespace: x}\n")
        await eventually(lambda: "document 2: metadata.name: missing" in caplog.text, "logged")
    assert f"{path}: document 2" in caplog.text
    assert "keeping its last good version (2 objects)" in caplog.text
    assert reconciler.store.get("Service", "default", "other") is not None
    path.write_text(service("hello"))
    await eventually(lambda: reconciler.store.get("Service", "default", "other") is None, "fixed")


async def test_atomic_rename_and_delete(running: tuple[Path, Reconciler]) -> None:
    directory, reconciler = running
    store = reconciler.store
    final = directory / "svc.yaml"
    for port in (81, 82):
        scratch = directory / ".svc.yaml.tmp"
        scratch.write_text(service("hello", port=port))
        os.replace(scratch, final)
        await eventually(
            lambda port=port: (store.get("Service", "default", "hello") or {"spec": {"ports": [
                {"port": 0}]}})["spec"]["ports"][0]["port"] == port,
            f"rename to port {port}")
    final.unlink()
    await eventually(lambda: store.get("Service", "default", "hello") is None, "deleted")


async def test_configmap_style_symlink_swap(running: tuple[Path, Reconciler]) -> None:
    """ConfigMap volumes: `svc.yaml -> ..data/svc.yaml`, and `..data` is re-pointed atomically."""
    directory, reconciler = running
    for generation, port in enumerate((81, 82)):
        versioned = directory / f"..v{generation}"
        versioned.mkdir()
        (versioned / "svc.yaml").write_text(service("hello", port=port))
        link = directory / "..data_tmp"
        link.symlink_to(versioned.name)
        os.replace(link, directory / "..data")
        if generation == 0:
            (directory / "svc.yaml").symlink_to("..data/svc.yaml")
        await eventually(
            lambda port=port: (reconciler.store.get("Service", "default", "hello") or {"spec": {
                "ports": [{"port": 0}]}})["spec"]["ports"][0]["port"] == port,
            f"swap to port {port}")


INGRESS = service("web") + """---
kind: IngressClass
metadata: {name: portico}
spec: {controller: portico.dev/ingress-controller}
---
kind: Ingress
metadata: {name: web}
spec:
  ingressClassName: portico
  rules:
  - host: HOST
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"""


async def test_an_edit_reaches_the_published_table_within_a_second(tmp_path: Path) -> None:
    published: list[BuildResult] = []
    reconciler = Reconciler(BuildSettings(), [published.append])
    path = tmp_path / "web.yaml"
    path.write_text(INGRESS.replace("HOST", "a.local"))
    builds = asyncio.create_task(reconciler.run())
    try:
        async with watching(tmp_path, reconciler):
            await eventually(lambda: bool(published), "first build")
            assert published[-1].table.route("a.local", "/") is not None
            path.write_text(INGRESS.replace("HOST", "b.local"))
            took = await eventually(
                lambda: published[-1].table.route("b.local", "/") is not None, "edit published")
            # The watcher groups events for up to DEBOUNCE_MS, the reconciler for max_delay.
            assert took < 1.0
    finally:
        builds.cancel()


def test_a_changed_file_names_only_the_objects_it_changed(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(service("a", port=80) + "---\n" + service("b", port=80))
    (tmp_path / "c.yaml").write_text(service("c", port=80))
    directory = ManifestDirectory(tmp_path)
    directory.refresh()
    assert sorted(ident[1][1] for ident, _ in directory.changes()) == ["a", "b", "c"]
    (tmp_path / "a.yaml").write_text(service("a", port=81) + "---\n" + service("b", port=80))
    directory.refresh(["a.yaml"])
    [(ident, body)] = directory.changes()
    assert ident == ("Service", ("default", "a")) and body is not None
    assert body["spec"]["ports"][0]["port"] == 81
    # A second file takes an object over; removing it hands the object back.
    (tmp_path / "d.yaml").write_text(service("c", port=82))
    directory.refresh()
    [(ident, body)] = directory.changes()
    assert body is not None and body["spec"]["ports"][0]["port"] == 82
    (tmp_path / "d.yaml").unlink()
    (tmp_path / "c.yaml").unlink()
    directory.refresh()
    assert directory.changes() == [(("Service", ("default", "c")), None)]
    assert directory.changes() == []
