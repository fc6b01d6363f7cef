"""The ValidatingAdmissionWebhook endpoint: AdmissionReviews over HTTPS.

Each review runs the pure builder in a thread, against a snapshot of the
current store, is counted in `stats` (ingress-nginx's admission metrics),
and is time-boxed: past the limit the object is admitted
with a warning rather than stalling the API server (whose failurePolicy
the chart sets to Ignore for the same reason).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable

from aiohttp import web

from ingress.admission.review import review
from ingress.build.endpoints import SliceIndex
from ingress.observability.admission_metrics import AdmissionStats
from ingress.settings import BuildSettings
from ingress.store import Snapshot

log = logging.getLogger(__name__)

REVIEW_TIME_LIMIT = 2.0


def admission_app(snapshot: Callable[[], Snapshot], settings: BuildSettings,
                  stats: AdmissionStats, time_limit: float = REVIEW_TIME_LIMIT,
                  slices: Callable[[], SliceIndex] | None = None) -> web.Application:
    async def validate(request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            document = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.Response(status=400, text="the body is not an AdmissionReview (JSON)\n")
        if not isinstance(document, dict) or not isinstance(document.get("request"), dict):
            return web.Response(status=400, text="the body is not an AdmissionReview\n")
        try:
            answer, check = await asyncio.wait_for(
                asyncio.to_thread(review, document, snapshot(), settings, time.time(),
                                  slices() if slices is not None else None),
                time_limit)
            if check is not None:
                stats.record(check, time.perf_counter() - started)
        except TimeoutError:
            uid = document["request"].get("uid", "")
            log.warning("admission review %s took longer than %.1f s; admitted unchecked",
                        uid, time_limit)
            answer = {"apiVersion": document.get("apiVersion", "admission.k8s.io/v1"),
                      "kind": "AdmissionReview", "response": {
                          "uid": uid, "allowed": True,
                          "warnings": [f"Portico could not review this object within "
                                       f"{time_limit:g} s; it was admitted unchecked"]}}
        response = answer["response"]
        if not response["allowed"]:
            log.info("admission: rejected %s", response["status"]["message"])
        return web.json_response(answer)

    app = web.Application(client_max_size=4 << 20)
    app.router.add_post("/validate", validate)
    return app


async def start_admission(bind: str, port: int, context: ssl.SSLContext,
                          snapshot: Callable[[], Snapshot], settings: BuildSettings,
                          stats: AdmissionStats, slices: Callable[[], SliceIndex] | None = None,
                          ) -> web.AppRunner:
    runner = web.AppRunner(admission_app(snapshot, settings, stats, slices=slices),
                           access_log=None,
                           handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, bind, port, ssl_context=context, reuse_address=True).start()
    except OSError as exc:
        await runner.cleanup()
        raise OSError(exc.errno, f"--admission-port {port} on {bind}: {exc.strerror}") from exc
    return runner
