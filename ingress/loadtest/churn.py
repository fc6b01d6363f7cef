"""`--churn DIR`: change the routing table every few seconds while the load runs.

DIR is the manifests directory a `portico run --manifests DIR` (or `portico
demo`) serves. Every step either writes or removes one file holding a copy
of an Ingress found there, renamed and given hosts of its own
(`churnN.loadtest.invalid`, a reserved name nothing resolves): a real route
comes and goes, every step is a rebuilt, swapped table, and the routes under
load are untouched, so any error or latency step it causes is the swap's.
The file is removed at the end. Writes are atomic (a dot-file renamed into
place), as the file source expects of editors.
"""

from __future__ import annotations

import asyncio
import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ingress.sources.manifests import MANIFEST_SUFFIXES, ManifestError, parse_manifests

CHURN_FILE = "portico-loadtest-churn.generated.yaml"
_HOST = "churn{}.loadtest.invalid"


def _template(directory: Path) -> dict[str, Any]:
    """The first Ingress with rules in `directory`'s manifests (by file name)."""
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.name == CHURN_FILE or not path.name.endswith(
                MANIFEST_SUFFIXES):
            continue
        try:
            bodies = parse_manifests(path.read_text(encoding="utf-8"), str(path))
        except (ManifestError, OSError, UnicodeDecodeError):
            continue  # the file source reports bad files; a copy needs only one good one
        for body in bodies:
            if body.get("kind") == "Ingress" and (body.get("spec") or {}).get("rules"):
                return copy.deepcopy(dict(body))
    raise ValueError(f"--churn {directory}: no Ingress with rules to copy in its manifests")


def churn_copy(template: dict[str, Any]) -> dict[str, Any]:
    """The template renamed, with hosts of its own and no TLS or default backend."""
    metadata = template["metadata"]
    spec = {k: v for k, v in template["spec"].items() if k not in ("tls", "defaultBackend")}
    spec["rules"] = [{**rule, "host": _HOST.format(i)} for i, rule in enumerate(spec["rules"])]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": f"{metadata['name']}-loadtest-churn",
            "namespace": metadata.get("namespace") or "default",
            **({"annotations": metadata["annotations"]} if metadata.get("annotations") else {}),
        },
        "spec": spec,
    }


@dataclass(slots=True)
class Churn:
    directory: Path
    every: float  # seconds between two changes
    changes: list[float] = field(default_factory=list)  # when each was made (epoch seconds)
    _text: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if not self.directory.is_dir():
            raise ValueError(f"--churn {self.directory}: not a directory")
        if self.every <= 0:
            raise ValueError(f"--churn-every {self.every:g}: must be positive")
        self._text = yaml.safe_dump(churn_copy(_template(self.directory)), sort_keys=False)

    @property
    def path(self) -> Path:
        return self.directory / CHURN_FILE

    def step(self) -> None:
        if self.path.exists():
            self.path.unlink()
        else:
            tmp = self.directory / f".{CHURN_FILE}.tmp"
            tmp.write_text(self._text, encoding="utf-8")
            os.replace(tmp, self.path)
        self.changes.append(time.time())

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while True:
                try:
                    await asyncio.wait_for(stop.wait(), self.every)
                    return
                except TimeoutError:
                    self.step()
        finally:
            self.path.unlink(missing_ok=True)
