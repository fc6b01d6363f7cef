"""Basic auth: the Secret → BasicAuth (builder) and password checks (proxy), hashes from openssl.

openssl writes the crypt(3) and Apache MD5 hashes, `bcrypt` the bcrypt
ones, so the proxy's checks are tested against another implementation.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import subprocess
from typing import Any

import bcrypt
import pytest
from build_objects import ingress, path, problem_fields, rule, run, service

from ingress.build.htpasswd import InvalidHash, password_hash
from ingress.model import Route
from ingress.model.filters.basicauth import BasicAuth, HashScheme
from ingress.model.filters.core import DirectResponse, HeaderEdits, RequestHeaders, SourceRanges
from ingress.model.filters.satisfy import SatisfyAny
from ingress.proxy.filters.basicauth import matches

P = "nginx.ingress.kubernetes.io/"


def openssl_passwd(*args: str) -> str:
    return subprocess.run(["openssl", "passwd", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def bcrypt_hash(password: str, prefix: str = "$2b$") -> str:
    return prefix + bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()[4:]


HASHES = {
    "bcrypt $2b$": lambda pw: bcrypt_hash(pw),
    "bcrypt $2y$ (htpasswd -B)": lambda pw: bcrypt_hash(pw, "$2y$"),
    "bcrypt $2a$ (Go)": lambda pw: bcrypt_hash(pw, "$2a$"),
    "apr1 (htpasswd -m)": lambda pw: openssl_passwd("-apr1", pw),
    "md5-crypt": lambda pw: openssl_passwd("-1", pw),
    "sha256-crypt": lambda pw: openssl_passwd("-5", pw),
    "sha512-crypt": lambda pw: openssl_passwd("-6", pw),
    "sha512-crypt rounds": lambda pw: openssl_passwd("-6", "-salt", "rounds=2000$salty", pw),
    # glibc's crypt("s3cret-pässword", "ab"): OpenSSL 3 writes DES crypt no more.
    "des-crypt": lambda pw: {"s3cret-pässword": "abrTA66eJHxDk"}[pw],
    "{SHA} (htpasswd -s)": lambda pw: "{SHA}" + base64.b64encode(
        hashlib.sha1(pw.encode()).digest()).decode(),
    "{SSHA}": lambda pw: "{SSHA}" + base64.b64encode(
        hashlib.sha1(pw.encode() + b"salt").digest() + b"salt").decode(),
    "{PLAIN}": lambda pw: "{PLAIN}" + pw,
}


@pytest.mark.parametrize("kind", HASHES)
def test_each_format_checks_the_password(kind: str) -> None:
    stored = password_hash(HASHES[kind]("s3cret-pässword"))
    assert matches("s3cret-pässword".encode(), stored)
    assert not matches("S3cret-pässword".encode(), stored)
    assert not matches(b"", stored)


def test_plain_passwords_never_reach_the_table() -> None:
    stored = password_hash("{PLAIN}hunter2")
    assert stored.scheme is HashScheme.SHA256 and "hunter2" not in stored.value


@pytest.mark.parametrize("text", ["", "hunter2", "$2b$10$short", "$apr1$abc", "{SHA}!!",
                                  "{SHA}" + base64.b64encode(b"short").decode(), "$7$x$y"])
def test_unknown_forms_are_refused(text: str) -> None:
    with pytest.raises(InvalidHash):
        password_hash(text)


def secret(name: str, data: dict[str, str], namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def built(annotations: dict[str, str], *objects: dict[str, Any],
          namespace: str = "default") -> tuple[Route, list[tuple[str, str, str]], Any]:
    body = ingress("a", [rule("foo.com", path("/"))], namespace=namespace,
                   annotations={P + k: v for k, v in annotations.items()})
    result = run(body, service("web", namespace=namespace), *objects)
    route = result.table.route("foo.com", "/")
    assert route is not None
    return route, problem_fields(result), result


BASIC = {"auth-type": "basic", "auth-secret": "users", "auth-realm": "Staff only"}
STRIP = RequestHeaders(HeaderEdits(remove=frozenset({b"authorization"})))


def test_htpasswd_file_users() -> None:
    apr1, sha = HASHES["apr1 (htpasswd -m)"]("a"), HASHES["{SHA} (htpasswd -s)"]("b")
    text = f"# staff\nalice:{apr1}\n\nbob:{sha}:extra field\n"
    route, problems, result = built(BASIC, secret("users", {"auth": text}))
    assert problems == []
    auth, strip = route.filters
    assert isinstance(auth, BasicAuth) and strip == STRIP
    assert auth.realm == "Staff only" and auth.challenge == b'Basic realm="Staff only"'
    assert {user: h.value for user, h in auth.users} == {"alice": apr1, "bob": sha}
    assert ("default", "users") in result.referenced_secrets


def test_auth_map_users_and_default_realm() -> None:
    hashed = HASHES["md5-crypt"]("pw")
    route, problems, _ = built({"auth-type": "basic", "auth-secret": "default/users",
                                "auth-secret-type": "auth-map"},
                               secret("users", {"carol": hashed + "\n"}))
    auth = route.filters[0]
    assert problems == [] and isinstance(auth, BasicAuth)
    assert auth.realm == "" and auth.by_name["carol"].value == hashed


def test_bad_lines_are_reported_and_their_users_cannot_sign_in() -> None:
    good = HASHES["sha256-crypt"]("x")
    route, problems, _ = built(BASIC, secret("users", {"auth": f"nohash\neve:plain\nok:{good}"}))
    assert problems == [("Secret default/users", 'data["auth"] line 1', "InvalidAuthSecret"),
                        ("Secret default/users", 'data["auth"] line 2', "InvalidAuthSecret")]
    auth = route.filters[0]
    assert isinstance(auth, BasicAuth) and list(auth.by_name) == ["ok"]


@pytest.mark.parametrize(
    ("annotations", "objects", "field", "reason"),
    [
        (BASIC, [], "auth-secret", "SecretNotFound"),
        (BASIC, [secret("users", {"other": "x"})], "auth-secret", "InvalidAuthSecret"),
        ({**BASIC, "auth-type": "digest"}, [secret("users", {"auth": "a:{PLAIN}b"})],
         "auth-type", "InvalidAnnotation"),
        ({**BASIC, "auth-type": "basicx"}, [secret("users", {"auth": "a:{PLAIN}b"})],
         "auth-type", "InvalidAnnotation"),
        ({**BASIC, "auth-secret": "other/users"}, [secret("users", {"auth": "a:{PLAIN}b"},
                                                          namespace="other")],
         "auth-secret", "InvalidAnnotation"),
        ({"auth-type": "basic"}, [], "auth-secret", "InvalidAnnotation"),
        ({**BASIC, "auth-realm": 'say "hi"'}, [secret("users", {"auth": "a:{PLAIN}b"})],
         "auth-realm", "InvalidAnnotation"),
        ({**BASIC, "auth-secret-type": "auth-json"}, [secret("users", {"auth": "a:{PLAIN}b"})],
         "auth-secret-type", "InvalidAnnotation"),
    ],
)
def test_auth_that_cannot_be_set_up_answers_503_never_open(
    annotations: dict[str, str], objects: list[dict[str, Any]], field: str, reason: str,
) -> None:
    route, problems, _ = built(annotations, *objects)
    assert (("Ingress default/a", f'metadata.annotations["{P}{field}"]', reason) in problems)
    assert route.filters == (DirectResponse(503),) and route.response_filters == ()


def test_auth_secret_without_auth_type_is_reported_and_does_nothing() -> None:
    route, problems, _ = built({"auth-secret": "users"}, secret("users", {"auth": "a:{PLAIN}b"}))
    assert problems == [("Ingress default/a", f'metadata.annotations["{P}auth-secret"]',
                         "InvalidAnnotation")]
    assert route.filters == ()


def test_a_secret_without_users_lets_nobody_in() -> None:
    route, problems, _ = built(BASIC, secret("users", {"auth": "# nobody yet\n"}))
    assert problems == [("Ingress default/a", f'metadata.annotations["{P}auth-secret"]',
                         "InvalidAuthSecret")]
    auth = route.filters[0]
    assert isinstance(auth, BasicAuth) and auth.users == ()


def test_acme_challenges_skip_authentication_as_in_ingress_nginx() -> None:
    body = ingress("a", [rule("foo.com", path("/"), path("/.well-known/acme-challenge/t0k"))],
                   annotations={P + "auth-type": "basic", P + "auth-secret": "users",
                                P + "whitelist-source-range": "10.0.0.0/8",
                                P + "satisfy": "any"})
    table = run(body, service("web"), secret("users", {"auth": "a:{PLAIN}b"})).table
    guarded = table.route("foo.com", "/x")
    challenge = table.route("foo.com", "/.well-known/acme-challenge/t0k")
    assert guarded is not None and challenge is not None
    assert any(isinstance(f, SatisfyAny) for f in guarded.filters)
    # The IP list stays (nginx's allow/deny are not authentication); the rest goes.
    assert challenge.filters == (SourceRanges(allow=(ipaddress.ip_network("10.0.0.0/8"),)),)
