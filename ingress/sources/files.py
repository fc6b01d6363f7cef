"""The file source: a directory of manifests, watched, fed into the store.

It is how Portico runs with no cluster. Each file is tracked on its own: an
edit that breaks a file is logged and that file's last good objects stay
served, so a typo never takes routes down. Deleted files take their objects
with them.

Change detection does not trust event kinds. Editors save by renaming, and
Kubernetes ConfigMap volumes swap a `..data` symlink, so every batch of
events (and a periodic timeout, which also covers anything that changed
before the watcher started) triggers a re-scan that compares each file's
stat signature; files named by an event are re-read regardless, because
timestamps are too coarse to tell two quick writes of the same size apart.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from watchfiles import awatch

from ingress.sources.manifests import MANIFEST_SUFFIXES, ManifestError, parse_manifests
from ingress.store import KINDS, Body, Key, Store, key_of, packed

log = logging.getLogger(__name__)

# Milliseconds. A batch of events is handed over once STEP passes without a
# new one (an editor's save is several events in a row), or after DEBOUNCE
# while they keep coming; with no event, a re-scan happens every
# RESCAN_INTERVAL. STEP is most of the time from a write to the rebuild, and
# also how often the watcher thread wakes while all is quiet: with 50 ms a
# change took 80 ms (p50) to reach traffic at 100 Ingresses, with 10 ms 50 ms,
# with 5 ms 35 ms; 5 ms costs 0.8% of a core while nothing changes.
DEBOUNCE_MS = 200
STEP_MS = 5
RESCAN_INTERVAL_MS = 1000

Signature = tuple[int, int, int]  # (inode, size, mtime ns) after following symlinks


class Reconciling(Protocol):
    """What a source needs from the `Reconciler`: somewhere to write, and a way to say 'listed'."""

    @property
    def store(self) -> Store: ...

    def mark_synced(self) -> None: ...


class SourceError(Exception):
    """The source cannot start at all (as opposed to one bad file, which is logged)."""


Ident = tuple[str, Key]  # (kind, (namespace, name))


@dataclass(slots=True)
class _TrackedFile:
    signature: Signature | None
    bodies: list[Body]  # the last version that parsed; [] if none ever did
    by_ident: dict[Ident, Body]  # the same, by object (the later of two in one file)


def _tracked(signature: Signature | None, bodies: list[Body]) -> _TrackedFile:
    return _TrackedFile(signature, bodies, {(str(b["kind"]), key_of(b)): b for b in bodies})


class ManifestDirectory:
    """The objects of one directory's manifest files, each file's last good version.

    An object defined in two files comes from the later file by name. Which
    files define each object is kept, so that a change of one file costs
    what that file holds: `changes` names only the objects it may have
    changed, not the whole directory (tens of thousands of objects in a
    large GitOps checkout).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._files: dict[Path, _TrackedFile] = {}
        # The files defining each object: a tuple, as it is one file nearly always (a set
        # would be 216 bytes per object, 6 MB for 30,000).
        self._definers: dict[Ident, tuple[Path, ...]] = {}
        self._pending: set[Ident] = set()  # objects whose chosen version may have changed

    def refresh(self, touched: Iterable[str] = ()) -> bool:
        """Re-read what changed since the last call; True if any file's objects changed.

        `touched` names files (by base name) that events reported: re-read even if their
        stat signature looks the same.
        """
        current = self._list()
        if current is None:
            return False
        forced = set(touched)
        changed = False
        for gone in self._files.keys() - current.keys():
            self._forget(gone, self._files.pop(gone).by_ident)
            log.info("%s: removed", gone, extra={"file": str(gone)})
            changed = True
        for path, signature in current.items():
            tracked = self._files.get(path)
            if tracked is not None and tracked.signature == signature and path.name not in forced:
                continue
            changed |= self._load(path, signature, tracked)
        return changed

    def changes(self) -> list[tuple[Ident, Body | None]]:
        """The objects the files changed since the last call, as chosen now (None: gone)."""
        pending, self._pending = self._pending, set()
        return [(ident, self._chosen(ident)) for ident in pending]

    def objects(self) -> dict[str, list[Body]]:
        """Every object by kind, as chosen now."""
        by_kind: dict[str, list[Body]] = {kind: [] for kind in KINDS}
        for ident in self._definers:
            body = self._chosen(ident)
            if body is not None:
                by_kind[ident[0]].append(body)
        return by_kind

    def _chosen(self, ident: Ident) -> Body | None:
        definers = self._definers.get(ident)
        return self._files[max(definers)].by_ident[ident] if definers else None

    def _forget(self, path: Path, idents: Iterable[Ident]) -> None:
        for ident in idents:
            definers = tuple(p for p in self._definers[ident] if p != path)
            if definers:
                self._definers[ident] = definers
            else:
                del self._definers[ident]
            self._pending.add(ident)

    def _define(self, path: Path, idents: Iterable[Ident]) -> None:
        for ident in idents:
            definers = self._definers.get(ident, ())
            if definers:  # reported when the second file comes, not while it stays
                earlier = min(definers)
                later, other = (path, earlier) if path > earlier else (max(definers), path)
                log.warning(
                    "%s: %s %s is also defined in %s; using this one",
                    later, ident[0], "/".join(filter(None, ident[1])), other,
                    extra={"file": str(later)},
                )
            if path not in definers:
                self._definers[ident] = (*definers, path)
            self._pending.add(ident)

    def _list(self) -> dict[Path, Signature] | None:
        found: dict[Path, Signature] = {}
        try:
            entries = list(os.scandir(self.directory))
        except OSError as exc:
            log.error("manifests directory %s: %s; keeping the objects already loaded",
                      self.directory, exc.strerror or exc)
            return None
        for entry in entries:
            # Dot files are editors' swap files and ConfigMap volumes' `..data` internals.
            if entry.name.startswith(".") or not entry.name.endswith(MANIFEST_SUFFIXES):
                continue
            try:
                st = entry.stat()  # follows symlinks, as ConfigMap volumes need
            except OSError:
                continue  # vanished or dangling: treated as deleted
            if entry.is_file():
                found[Path(entry.path)] = (st.st_ino, st.st_size, st.st_mtime_ns)
        return found

    def _load(self, path: Path, signature: Signature, tracked: _TrackedFile | None) -> bool:
        previous = tracked.bodies if tracked is not None else []
        try:
            bodies = [packed(body) for body in
                      parse_manifests(path.read_text(encoding="utf-8"), str(path))]
        except (ManifestError, OSError, UnicodeDecodeError) as exc:
            kept = f"keeping its last good version ({len(previous)} objects)" if tracked else (
                "skipping it")
            log.error("%s; %s", _reason(path, exc), kept, extra={"file": str(path)})
            if tracked is None:
                self._files[path] = _tracked(signature, [])
            else:
                tracked.signature = signature
            return False
        if tracked is not None and bodies == previous:
            tracked.signature = signature
            return False
        self._files[path] = new = _tracked(signature, bodies)
        old = tracked.by_ident if tracked is not None else {}
        self._forget(path, old.keys() - new.by_ident.keys())
        self._define(path, new.by_ident.keys() - old.keys())
        self._pending.update(ident for ident in old.keys() & new.by_ident.keys()
                             if new.by_ident[ident] != old[ident])
        log.info("%s: loaded %d objects", path, len(bodies), extra={"file": str(path)})
        return True


def _reason(path: Path, exc: Exception) -> str:
    if isinstance(exc, ManifestError):
        return str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
    if isinstance(exc, OSError):
        return f"{path}: cannot read: {exc.strerror or exc}"
    return f"{path}: {exc}"


def _publish(directory: ManifestDirectory, store: Store) -> None:
    for (kind, key), body in directory.changes():
        if body is None:
            store.delete(kind, *key)
        else:
            store.upsert(body)


async def run_file_source(directory: str, reconciler: Reconciling, stop: asyncio.Event) -> None:
    """Load the manifests in `directory`, mark the reconciler synced, apply changes until `stop`."""
    root = Path(directory)
    if not root.is_dir():
        raise SourceError(f"manifests directory {directory!r}: not a directory")
    files = ManifestDirectory(root)
    await asyncio.to_thread(files.refresh)
    _publish(files, reconciler.store)
    reconciler.mark_synced()
    log.info("serving manifests from %s", root)
    async for touched in _changes(root, stop):
        # Parsing runs off the event loop: the proxy may share it.
        if await asyncio.to_thread(files.refresh, touched):
            _publish(files, reconciler.store)


async def _changes(root: Path, stop: asyncio.Event) -> AsyncIterator[set[str]]:
    """Base names of the files each batch of events names; an empty set when all is quiet.

    watchfiles falls back to polling by itself when inotify cannot start
    (`WATCHFILES_FORCE_POLLING=1` forces it, for filesystems without events).
    """
    async for events in awatch(
        root,
        stop_event=stop,
        watch_filter=None,
        debounce=DEBOUNCE_MS,
        step=STEP_MS,
        rust_timeout=RESCAN_INTERVAL_MS,
        yield_on_timeout=True,
        recursive=False,
    ):
        yield {os.path.basename(path) for _, path in events}
