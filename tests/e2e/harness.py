"""Real processes for end-to-end tests: `portico run`, demo pods, manifest directories.

Portico runs as a subprocess exactly as a user starts it. The demo pods
(ingress.demo) run in a thread with their own event loop, so one set can
serve a whole test module whatever loop each test uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiohttp import web

from ingress.demo import DemoBackends, start_demo_backends
from kube import objects as o

T = TypeVar("T")
# A deadline, not a wait: a start takes 1-3 s, and once took over 20 s on a test machine
# whose neighbours kept both cores busy (load average 14).
STARTUP_DEADLINE = 60.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_port_on(hosts: Sequence[str], attempts: int = 20) -> int:
    """A port free on every one of `hosts` (pods that share one port): `free_port` checks
    one address, and another module's pods may hold the same number on the next."""
    for _ in range(attempts):
        port = free_port(hosts[0])
        with contextlib.ExitStack() as held:
            try:
                for host in hosts[1:]:
                    held.enter_context(socket.socket()).bind((host, port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no port free on all of {hosts} in {attempts} tries")


def wait_until(check: Callable[[], T | None], what: str, deadline: float = 10.0) -> T:
    """Poll `check` until it returns something truthy; exceptions count as 'not yet'."""
    end = time.monotonic() + deadline
    last: object = None
    while time.monotonic() < end:
        try:
            result = check()
        except Exception as error:
            result, last = None, error
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")


async def eventually(check: Callable[[], Any], what: str, deadline: float = 10.0) -> Any:
    """The async twin of `wait_until` for checks that are coroutines."""
    end = time.monotonic() + deadline
    last: object = None
    while time.monotonic() < end:
        try:
            result = await check()
        except Exception as error:
            result, last = None, error
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")


class LoopThread:
    """An event loop in a daemon thread: what runs there serves whatever loop (or none)
    each test uses, for as long as a module needs it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop; its result, within 10 s."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class AppServer(LoopThread):
    """An aiohttp application on `host:port`, served from a loop thread of its own."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        super().__init__()
        self._runner = self.call(self._start(app, host, port))

    @staticmethod
    async def _start(app: web.Application, host: str, port: int) -> web.AppRunner:
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        return runner

    def close(self) -> None:
        self.call(self._runner.cleanup())
        self.stop()


class Pods(LoopThread):
    """Demo pods on loopback addresses, served from a background thread's loop."""

    def __init__(self, addresses: Iterable[tuple[str, int]]) -> None:
        super().__init__()
        self._backends: DemoBackends = self.call(start_demo_backends(list(addresses)))
        self.addresses = self._backends.addresses

    def close(self) -> None:
        self.call(self._backends.close())
        self.stop()


class Manifests:
    """A manifest directory; each file is replaced atomically, as editors and ConfigMaps do."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, objects: Iterable[Mapping[str, Any]]) -> None:
        text = yaml.safe_dump_all([dict(o) for o in objects], sort_keys=False)
        self.write_text(name, text)

    def write_text(self, name: str, text: str) -> None:
        tmp = self.root / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.root / name)

    def remove(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)


class Portico:
    """`portico run` as a subprocess on free loopback ports.

    With `test_defaults` (the usual case) the process also gets one worker, no
    shutdown delay and text logs unless `args` say otherwise; without, `args`
    are all it gets beyond the listener addresses, as when a test runs what a
    deployment renders. `env` is added to this process's environment.
    """

    def __init__(self, manifests: Path | None, *args: str, log: Path,
                 env: Mapping[str, str] | None = None, test_defaults: bool = True) -> None:
        self.http_port = free_port()
        self.https_port = free_port()
        self.admin_port = free_port()
        self.log_path = log
        command = [
            sys.executable,
            "-m",
            "ingress.cli",
            "run",
            "--bind",
            "127.0.0.1",
            "--admin-bind",
            "127.0.0.1",
            "--http-port",
            str(self.http_port),
            "--https-port",
            str(self.https_port),
            "--admin-port",
            str(self.admin_port),
        ]
        if test_defaults:
            command += ["--log-format", "text"]
            if not _given("--workers", args):
                command += ["--workers", "1"]
            if not _given("--shutdown-delay", args):
                command += ["--shutdown-delay", "0"]
        command += args
        if manifests is not None:
            command += ["--manifests", str(manifests)]
        self._log = log.open("wb")
        self._terminated = False
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **(env or {})})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def secure_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def admin_get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.admin + path, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def wait_ready(self, deadline: float = STARTUP_DEADLINE) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise AssertionError(f"portico exited with {code}:\n{self.logs()}")
            return self.admin_get("/readyz")[0] == 200

        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"portico not ready in {deadline}s:\n{self.logs()}")

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        _, text = self.admin_get("/metrics")
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            series, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in series for k, v in labels.items()):
                total += float(value)
        return total

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        """SIGTERM, once: a second one may land after the process has put its handler away
        on its way out, and end it with -15 instead of its own exit status."""
        if self.process.poll() is None and not self._terminated:
            self._terminated = True
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 20.0) -> int:
        self.terminate()
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code


def start_ready(manifests: Path | None, *args: str, log: Path,
                env: Mapping[str, str] | None = None, test_defaults: bool = True,
                attempts: int = 3) -> Portico:
    """A `Portico` that is ready, started again on other ports if one was taken.

    `free_port` picks ports that are free at that moment; another process may
    bind one before Portico does (the window is widest while several workers
    start), which is a fact of the test machine, not a Portico failure.
    """
    attempt = 1
    while True:
        portico = Portico(manifests, *args, log=log, env=env, test_defaults=test_defaults)
        try:
            portico.wait_ready()
        except AssertionError:
            portico.stop()
            if attempt >= attempts or "address already in use" not in portico.logs():
                raise
            attempt += 1
            continue
        return portico


@contextlib.contextmanager
def demo_pods(ips: Sequence[str]) -> Iterator[int]:
    """Demo pods at `ips`, all on one free port: the port."""
    port = free_port_on(ips)
    pods = Pods([(ip, port) for ip in ips])
    try:
        yield port
    finally:
        pods.close()


@contextlib.contextmanager
def serving(base: Path, pods: Sequence[str], objects: Iterable[Mapping[str, Any]],
            *args: str) -> Iterator[tuple[Portico, Manifests]]:
    """A ready `portico run` over a manifest directory holding `objects`, with the
    IngressClass `portico` and a Service `web` whose pods are demo pods at `pods`."""
    with demo_pods(pods) as port:
        manifests = Manifests(base / "manifests")
        manifests.write("objects.yaml", [
            o.ingress_class(), o.service("web", target=port),
            o.endpoint_slice("web", list(pods), port=port), *objects,
        ])
        portico = start_ready(manifests.root, *args, log=base / "portico.log")
        try:
            yield portico, manifests
        finally:
            portico.stop()


def _given(flag: str, args: Iterable[str]) -> bool:
    """Whether `args` set `flag`, as `--flag value` or `--flag=value`."""
    return any(arg == flag or arg.startswith(flag + "=") for arg in args)
