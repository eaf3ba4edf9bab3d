from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_server.redaction import REDACTED, redact, redact_obj

CASES = [
    ("Authorization: Bearer abc.def-ghi_123456", "abc.def-ghi_123456"),
    ("curl -H 'Authorization: Token 0123456789abcdef'", "0123456789abcdef"),
    (
        "jwt=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ),
    ("DB_PASSWORD=hunter2 DB_USER=app", "hunter2"),
    ("password: 'correct horse battery'", "correct horse battery"),
    ('{"user": "a", "password": "p\\"w0rd", "n": 1}', 'p\\"w0rd'),
    ('{"client_secret": 12345678}', "12345678"),
    ("aws key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ("OPENAI_API_KEY sk-proj-abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"),
    ("token ghp_0123456789abcdefghijABCDEFGHIJ0123456789 ok", "ghp_0123456789abcdefghij"),
    ("redis://:s3cr3t@redis:6379/0", "s3cr3t"),
    ("postgresql://app:p@ss:w0rd@db.svc:5432/app?sslmode=require", "ss:w0rd"),
    ("GET https://admin:letmein@registry.example.com/v2/", "letmein"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEAx",
    ),
    ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqh (truncated", "MIIEvQIBADANBgkqh"),
    ("api_key=AIzaSyA-1234567890abcdefghijklmnopqrstu", "AIzaSyA-1234567890"),
]


@pytest.mark.parametrize(("text", "secret"), CASES)
def test_known_secret_shapes_are_redacted(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert REDACTED in out


@pytest.mark.parametrize(
    "text",
    [
        "basic authentication failed for user bob",
        "[signal SIGSEGV: segmentation violation code=0x1]",
        "Tests passed: 5",
        "connection refused to 10.0.0.1:5432",
        "GET /healthz 200",
    ],
)
def test_ordinary_text_is_kept(text: str) -> None:
    assert redact(text) == text


def test_redact_obj_walks_json() -> None:
    doc = {"a": ["password=x1", {"b": "Bearer tok3n-abcdef"}], "n": 3}
    assert redact_obj(doc) == {
        "a": [f"password={REDACTED}", {"b": f"Bearer {REDACTED}"}],
        "n": 3,
    }


_alnum = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=16, max_size=16)
_token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=20,
    max_size=40,
)
_value = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789!#$%^*-_+.~", min_size=6, max_size=30
)
_b64 = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
    min_size=10,
    max_size=40,
)

# (secret, how it appears in text): the secret must vanish whatever surrounds it.
_secrets = st.one_of(
    _alnum.map(lambda v: ("AKIA" + v, "AKIA" + v)),
    _token.map(lambda v: ("ghp_" + v, "ghp_" + v)),
    _token.map(lambda v: ("sk-" + v, "sk-" + v)),
    st.tuples(_b64, _b64).map(lambda p: (f"eyJ{p[0]}.{p[1]}", f"eyJ{p[0]}.{p[1]}.sig")),
    _value.map(lambda v: ("pw" + v, "password=pw" + v)),
    _value.map(lambda v: ("pw" + v, f'"db_password": "pw{v}"')),
    _value.map(lambda v: ("pw" + v, f"postgres://app:pw{v}@db:5432/x")),
    _value.map(lambda v: ("tk" + v + "0", f"Authorization: Bearer tk{v}0")),
    _value.map(lambda v: ("k3y" + v, f"api_key: k3y{v}")),
    _value.map(lambda v: ("tok" + v, f"GET /cb?code=1&access_token=tok{v}")),
    _value.map(lambda v: ("pw" + v, f"https://admin:pw{v}@registry.example.com/v2/")),
    _b64.map(
        lambda v: (
            "MII" + v,
            f"-----BEGIN EC PRIVATE KEY-----\nMII{v}\n-----END EC PRIVATE KEY-----",
        )
    ),
)
_filler = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200)


_opening = st.sampled_from([" ", "\n", "\t", ", ", "; ", "(", "[", "'", '"', "> "])
_closing = st.sampled_from([" ", "\n", "\t", ",", ";", ")", "]", "'", '"', "&"])


@settings(max_examples=300, deadline=None)
@given(_filler, _opening, _secrets, _closing, _filler)
def test_embedded_secret_never_survives(
    before: str, opening: str, secret: tuple[str, str], closing: str, after: str
) -> None:
    value, shaped = secret
    text = f"{before}{opening}{shaped}{closing}{after}"
    assert value not in redact(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_redact_total_on_arbitrary_text(text: str) -> None:
    assert isinstance(redact(text), str)
