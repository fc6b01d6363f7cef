"""Access checks: filters of nginx's access phase (IP lists, basic and external auth).

Each such filter type has a check that says allowed (None), refused (a
`Denial`), DECLINED (no say), or, when it must wait, PENDING, in which case it calls `done`
with its verdict later. Checked alone (`satisfy: all`, nginx's default),
a refusal is answered at once; under `satisfy: any` the checks run in
nginx's order until one allows (ingress.proxy.filters.satisfy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ingress.model.filters.base import Filter
from ingress.proxy.filters.registry import (
    ANSWERED,
    NEXT,
    SUSPENDED,
    FilterHost,
    request_runner,
)

if TYPE_CHECKING:
    from ingress.proxy.exchange import Exchange

Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class Denial:
    """A refusal: 401 or 403 (another check may still allow under `satisfy: any`), or a
    `final` answer such as the 500 of an authentication service that failed."""

    status: int
    headers: Headers = ()
    # A redirect to sign in, given instead of a 401 (auth-signin), with its own headers.
    signin: str | None = None
    signin_headers: Headers = ()
    final: bool = False


class _Pending:
    def __repr__(self) -> str:
        return "PENDING"


class _Declined:
    def __repr__(self) -> str:
        return "DECLINED"


PENDING: Final = _Pending()
# nginx's NGX_DECLINED: the check has no say (no rule names the client), so alone it lets
# the request through, and under `satisfy: any` it allows nothing either.
DECLINED: Final = _Declined()
Verdict = Denial | _Pending | _Declined | None
Done = Callable[[Denial | None], None]
Check = Callable[[FilterHost, "Exchange", Any, Done], Verdict]

A = TypeVar("A", bound=Filter)
TypedCheck = Callable[[FilterHost, "Exchange", A, Done], Verdict]
_CHECKS: dict[type[Filter], Check] = {}


def access_check(kind: type[A]) -> Callable[[TypedCheck[A]], TypedCheck[A]]:
    """Register the check of an access filter type (whose runner is registered apart)."""

    def register(check: TypedCheck[A]) -> TypedCheck[A]:
        _CHECKS[kind] = check
        return check

    return register


def access_filter(kind: type[A]) -> Callable[[TypedCheck[A]], TypedCheck[A]]:
    """Register the check of an access filter type, and run it as the type's filter."""

    def register(check: TypedCheck[A]) -> TypedCheck[A]:
        access_check(kind)(check)

        @request_runner(kind)
        def run(host: FilterHost, exchange: Exchange, flt: A) -> int:
            return run_check(host, exchange, check(host, exchange, flt, finisher(host, exchange)))

        return check

    return register


def finisher(host: FilterHost, exchange: Exchange) -> Done:
    """What a pending check calls with its verdict: resume or refuse the request."""

    def done(denial: Denial | None) -> None:
        if not host.waiting(exchange):
            return  # the client left meanwhile
        if denial is None:
            host.resume(exchange)
        else:
            refuse(host, exchange, denial)

    return done


def run_check(host: FilterHost, exchange: Exchange, verdict: Verdict) -> int:
    """A check's verdict as a filter's: NEXT, ANSWERED (refused) or SUSPENDED."""
    if verdict is None or verdict is DECLINED:
        return NEXT
    if isinstance(verdict, Denial):
        refuse(host, exchange, verdict)
        return ANSWERED
    return SUSPENDED


def check_of(flt: Filter) -> Check:
    return _CHECKS[type(flt)]


def refuse(host: FilterHost, exchange: Exchange, denial: Denial) -> None:
    if denial.signin is not None and denial.status == 401:
        location = (b"location", denial.signin.encode("latin-1"))
        host.answer(exchange, 302, (location, *denial.signin_headers))
    else:
        host.answer(exchange, denial.status, denial.headers)
