"""Log formatting and the access-log line, through the real logging machinery."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest

from ingress.observability.logs import QUIET_LOGGERS, configure_logging, iso_time

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NOW = 1700000000.25  # 2023-11-14T22:13:20.250Z


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide loggers; put them back for other tests."""
    names = ["", *QUIET_LOGGERS]
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level,
                 logging.getLogger(n).propagate) for n in names}
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def test_json_lines_carry_extra_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "info")
    logging.getLogger("ingress.build").warning(
        "bad %s", "path", extra={"object": "Ingress default/web", "field": "spec.rules[0]"})
    logging.getLogger("ingress.build").debug("not shown at info")
    [line] = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    assert TS.match(record.pop("ts"))
    assert record == {"level": "warning", "logger": "ingress.build", "msg": "bad path",
                      "object": "Ingress default/web", "field": "spec.rules[0]"}


def test_json_line_includes_the_exception(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "info")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("x").exception("failed")
    record = json.loads(capsys.readouterr().err)
    assert record["msg"] == "failed"
    assert record["exc"].endswith("RuntimeError: boom")


def test_text_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("text", "debug")
    logging.getLogger("ingress.sources").info("loaded", extra={"file": "/m/a b.yaml"})
    line = capsys.readouterr().err.rstrip("\n")
    ts, rest = line.split(" ", 1)
    assert TS.match(ts)
    assert rest == 'info    ingress.sources: loaded file="/m/a b.yaml"'


@pytest.mark.parametrize("level", ["info", "warning"])
def test_library_loggers_are_quiet_unless_debugging(
        capsys: pytest.CaptureFixture[str], level: str) -> None:
    configure_logging("text", level)
    logging.getLogger("aiohttp.test_logs").info("GET /")
    logging.getLogger("kopf.test_logs").warning("kopf warns")
    err = capsys.readouterr().err
    assert "GET /" not in err
    assert "kopf warns" in err
    configure_logging("text", "debug")
    logging.getLogger("aiohttp.test_logs").info("GET /")
    assert "GET /" in capsys.readouterr().err


@pytest.mark.parametrize(("fmt", "level", "message"), [
    ("xml", "info", "--log-format: 'xml' is not one of json, text"),
    ("json", "loud", "--log-level: 'loud' is not one of debug, info, warning, error"),
])
def test_bad_settings_name_the_flag(fmt: str, level: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        configure_logging(fmt, level)
    assert str(raised.value) == message


def test_iso_time() -> None:
    assert iso_time(NOW) == "2023-11-14T22:13:20.250Z"
