"""Runner of satisfy: any (ingress.model.filters.satisfy), and the check of IP lists.

The checks run in order until one allows; one that must wait (external
auth) is waited for, then the rest run. A final answer (an auth service
that failed: 500) ends it at once, as in nginx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingress.model.filters.base import Filter
from ingress.model.filters.core import SourceRanges
from ingress.model.filters.satisfy import SatisfyAny
from ingress.proxy.filters.access import (
    DECLINED,
    PENDING,
    Denial,
    Done,
    Verdict,
    access_check,
    check_of,
    finisher,
    run_check,
)
from ingress.proxy.filters.core import source_allows
from ingress.proxy.filters.registry import FilterHost, request_runner

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange


@access_check(SourceRanges)
def source_ranges(host: FilterHost, exchange: Exchange, flt: SourceRanges, done: Done) -> Verdict:
    if not source_allows(host.client_address, flt):
        return Denial(403)
    # An allow list ends in nginx's `deny all`: every address meets a rule. A deny list
    # alone names some; for the others nginx's access module declines, allowing nothing.
    return None if flt.allow else DECLINED


class _AnyOf:
    """One request's way through the checks of a SatisfyAny."""

    __slots__ = ("at", "checks", "denials", "exchange", "host")

    def __init__(self, host: FilterHost, exchange: Exchange, checks: tuple[Filter, ...]) -> None:
        self.host = host
        self.exchange = exchange
        self.checks = checks
        self.at = 0
        self.denials: list[Denial] = []

    def run(self) -> Verdict:
        """Checks from where it stands: allowed (None), refused, or PENDING on one."""
        while self.at < len(self.checks):
            flt = self.checks[self.at]
            self.at += 1
            verdict = check_of(flt)(self.host, self.exchange, flt, self.checked)
            if verdict is None or verdict is PENDING:
                return verdict
            if verdict is DECLINED:
                continue
            assert isinstance(verdict, Denial)
            if verdict.final:
                return verdict
            self.denials.append(verdict)
        # Every check declined: nothing refused either, as in nginx.
        return _combined(self.denials) if self.denials else None

    def checked(self, denial: Denial | None) -> None:
        """The verdict of the check that was pending."""
        if denial is not None and not denial.final:
            self.denials.append(denial)
            verdict = self.run()
            if verdict is PENDING:
                return
            assert verdict is None or isinstance(verdict, Denial)
            denial = verdict
        finisher(self.host, self.exchange)(denial)


def _combined(denials: list[Denial]) -> Denial:
    """nginx keeps the first 401 of the access phase over any 403."""
    refused = [d for d in denials if d.status == 401]
    if not refused:
        return denials[-1]
    signin = next((d for d in refused if d.signin is not None), None)
    return Denial(401, tuple(h for d in refused for h in d.headers),
                  signin.signin if signin else None, signin.signin_headers if signin else ())


@request_runner(SatisfyAny)
def satisfy_any(host: FilterHost, exchange: Exchange, flt: SatisfyAny) -> int:
    return run_check(host, exchange, _AnyOf(host, exchange, flt.checks).run())
