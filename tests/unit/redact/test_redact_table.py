"""The one redaction table: every shape of secret it names goes, harmless text stays,
redacting twice changes nothing, and both rooms' redactors are the same table."""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import agent.redaction as agent_redaction
import mcp_server.redaction as server_redaction
from kubemedic_redact import (
    MASK,
    RULES,
    is_secret_key,
    redact_argv,
    redact_lines,
    redact_mapping,
    redact_text,
)

PEM_BODY = ["MIIEowIBAAKCAQEA0Zc8xq3T9bVxkq2LmN4pQrStUvWxYz", "Ab12Cd34Ef56Gh78Ij90KlMnOpQrSt"]

# (text, the secret in it)
CASES = [
    ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(PEM_BODY) + "\n-----END OPENSSH "
     "PRIVATE KEY-----", PEM_BODY[1]),
    ("-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + PEM_BODY[0], PEM_BODY[0]),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\n" + PEM_BODY[0] + "\n-----END PGP PRIVATE KEY "
     "BLOCK-----", PEM_BODY[0]),
    ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ", "c2lnbmF0dXJl"),
    ("Authorization: Basic YWRtaW46aHVudGVyMg==", "YWRtaW46aHVudGVyMg"),
    ("proxy-authorization: Bearer tkn-0a9b8c7d6e", "tkn-0a9b8c7d6e"),
    ("AWS_ACCESS_KEY_ID=ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"),
    ("aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ('{"type": "service_account", "private_key_id": "8f2c1e0d9b7a", "private_key": "-----BEGIN '
     'PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0\\n-----END PRIVATE KEY-----\\n"}', "8f2c1e0d9b7a"),
    ('{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0\\n-----END PRIVATE '
     'KEY-----\\n"}', "MIIEvQIBADANBgkqhkiG9w0"),
    ("DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=Zm9vYmFyYmF6cXV4MTIz==;"
     "EndpointSuffix=core.windows.net", "Zm9vYmFyYmF6cXV4MTIz"),
    ("https://acme.blob.core.windows.net/c/f?sv=2022-11-02&sp=r&sig=Qx7%2Bk9LmZ0aBc%3D&se=2030",
     "Qx7%2Bk9LmZ0aBc"),
    ("git clone https://x:ghs_16C7e42F292c6912E7710c838347Ae178B4a@github.com/o/r",
     "ghs_16C7e42F292c6912E7710c838347Ae178B4a"),
    ("GH=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_11ABCDEFG01"),
    ("slack xoxp-2222222222-3333333333-abcdefabcdef", "xoxp-2222222222"),
    ("charging with sk_live_51HqLyjWDarjtT1zdp7dc0000 now", "sk_live_51HqLyjWDarjtT1zdp7dc"),
    ("Set-Cookie: sid=s%3Aabcdef0123; Path=/; HttpOnly", "s%3Aabcdef0123"),
    ("cookie=theme-dark-0099", "theme-dark-0099"),
    ("X-Hub-Signature: sha256=7d38cdd689735b008b3c702edd92eea23791c5f6", "7d38cdd689735b"),
    ("sessionid=8d9f7a6b5c4e", "8d9f7a6b5c4e"),
    ("SENTRY_DSN=https://abc123@o1.ingest.sentry.io/42", "abc123@o1"),
    ("ConnectionString: Server=db;User Id=sa;Password=Sq1-S3rv3r!", "Sq1-S3rv3r!"),
    ('{"auths": {"registry.example.com": {"auth": "dXNlcjpwYXNzd29yZA=="}}}', "dXNlcjpwYXNz"),
    ("mongodb+srv://app:m0ng0-pw@cluster0.example.net/db", "m0ng0-pw"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "secret"), CASES)
def test_every_named_shape_is_redacted(text: str, secret: str) -> None:
    out = redact_text(text)
    assert secret not in out
    assert MASK in out


@pytest.mark.parametrize(
    "text",
    [
        "[signal SIGSEGV: segmentation violation code=0x1]",
        "design=minimal layout=grid",
        "basic authentication failed for user bob",
        "connecting to redis://redis:6379/0",
        "listening on :8080, 3 workers",
        "-----BEGIN CERTIFICATE-----",
        "Tests passed: 5",
    ],
)
def test_harmless_text_is_kept(text: str) -> None:
    assert redact_text(text) == text


def test_a_pem_block_spread_over_log_lines_goes_whole() -> None:
    lines = ["starting", "-----BEGIN RSA PRIVATE KEY-----", *PEM_BODY,
             "-----END RSA PRIVATE KEY-----", "ERROR boom"]  # fmt: skip
    out = redact_lines(lines)
    assert out == ["starting", MASK, "ERROR boom"]


def test_a_pem_tail_cut_off_from_its_header_goes_too() -> None:
    # A log read with tailLines may start in the middle of a printed key.
    lines = ["ERROR boom", *PEM_BODY, "-----END RSA PRIVATE KEY-----", "done"]
    out = redact_lines(lines)
    assert out == ["ERROR boom", MASK, "done"]


def test_argv_masks_the_value_after_a_secret_flag() -> None:
    argv = ["serve", "--api-key", "k-123456", "--token=t-654321", "--port", "8080", "-v"]
    assert redact_argv(argv) == ["serve", "--api-key", MASK, f"--token={MASK}", "--port", "8080",
                                 "-v"]  # fmt: skip


def test_mapping_keys_decide_and_values_are_scanned() -> None:
    doc = {
        "metadata": {"annotations": {"example.com/deploy-token": "t0k3n", "team": "payments"}},
        "env": [{"name": "DB_PASSWORD", "value": "pw"}, {"name": "MODE", "value": "prod"},
                {"name": "BOOT", "value": "id=AKIAIOSFODNN7EXAMPLE"}],
        "volumes": [{"secret": {"secretName": "db-creds"}}],
        "credentials": {"user": "app", "password": "pw2"},
        "restart_count": 3,
        "safety_checks_passed": True,
    }  # fmt: skip
    out = redact_mapping(doc)
    assert out["metadata"]["annotations"] == {"example.com/deploy-token": MASK, "team": "payments"}
    assert out["env"] == [{"name": "DB_PASSWORD", "value": MASK}, {"name": "MODE", "value": "prod"},
                          {"name": "BOOT", "value": f"id={MASK}"}]  # fmt: skip
    assert out["volumes"] == [{"secret": {"secretName": "db-creds"}}]  # a name, not a secret
    assert out["credentials"] == {"user": "app", "password": MASK}
    assert out["restart_count"] == 3 and out["safety_checks_passed"] is True


@pytest.mark.parametrize(
    ("name", "secret"),
    [("DB_PASSWORD", True), ("x-api-key", True), ("AccountKey", True), ("cookie", True),
     ("authorization", True), ("signature", True), ("SESSION_ID", True), ("GITHUB_TOKEN", True),
     ("secretName", False), ("token_type", False), ("restart_count", False), ("MODE", False),
     ("PASSWORD_FILE", False), ("STRIPE_KEY", True), ("key", False), ("monkey", False)],
)  # fmt: skip
def test_secret_key_names(name: str, secret: bool) -> None:
    assert is_secret_key(name) is secret


def test_both_rooms_use_the_one_table() -> None:
    text = "Cookie: a=1; signature=abc123def; authorization=Basic Zm9vOmJhcg=="
    assert agent_redaction.redact_text(text) == server_redaction.redact(text) == redact_text(text)
    for key in ("cookie", "signature", "authorization"):  # the agent's old table lacked these
        assert agent_redaction.redact({key: "v4lue"}) == {key: MASK}
    assert agent_redaction.MASK == server_redaction.REDACTED == MASK


def test_rule_names_are_unique() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))


# -- properties ------------------------------------------------------------------------------

_b64 = string.ascii_letters + string.digits
_word = st.text(alphabet=_b64, min_size=12, max_size=32)
_upper = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=16, max_size=16)
_pwd = st.text(alphabet=_b64 + "!#$%^*-_+.~", min_size=8, max_size=30)
_pem_lines = st.lists(st.text(alphabet=_b64 + "+/", min_size=16, max_size=64), min_size=1,
                      max_size=6)  # fmt: skip

# (secrets that must vanish, text that plants them)
_planted = st.one_of(
    _upper.map(lambda v: ([f"AKIA{v}"], f"AKIA{v}")),
    _word.map(lambda v: ([f"ghp_{v}00000000"], f"ghp_{v}00000000")),
    _word.map(lambda v: ([f"xoxb-{v}"], f"xoxb-{v}")),
    _word.map(lambda v: ([f"sk_live_{v}0000"], f"sk_live_{v}0000")),
    st.tuples(_word, _word).map(lambda p: ([f"{p[0]}.{p[1]}"], f"eyJ{p[0]}.{p[1]}.sig")),
    _pwd.map(lambda v: ([f"pw{v}"], f"DB_PASSWORD=pw{v}")),
    _pwd.map(lambda v: ([f"pw{v}"], f'{{"client_secret": "pw{v}"}}')),
    _pwd.map(lambda v: ([f"pw{v}"], f"postgres://app:pw{v}@db.svc:5432/app")),
    _word.map(lambda v: ([v], f"Authorization: Bearer {v}9")),
    _word.map(lambda v: ([v], f"https://a.blob.core.windows.net/c?sv=1&sig={v}&se=2")),
    _word.map(lambda v: ([v], f"Cookie: session={v}")),
    _pem_lines.map(
        lambda body: (
            body,
            "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *body, "-----END RSA PRIVATE KEY-----"]),
        )
    ),
)
_filler = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=120)
_sep = st.sampled_from([" ", "\n", "\t", ", ", "; ", "(", "[", "> "])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_filler, _sep, _planted, _sep), min_size=1, max_size=4), _filler)
def test_redacting_removes_every_planted_secret_and_is_idempotent(
    parts: list[tuple[str, str, tuple[list[str], str], str]], tail: str
) -> None:
    text = "".join(f"{before}{left}{planted[1]}{right}" for before, left, planted, right in parts)
    text += tail
    context = "".join(f"{before}{left}{right}" for before, left, _, right in parts) + tail
    assume(not any(s in context for _, _, (secrets, _), _ in parts for s in secrets))
    once = redact_text(text)
    for _, _, (secrets, _), _ in parts:
        for secret in secrets:
            assert secret not in once
    assert redact_text(once) == once
    lines = redact_lines(text.split("\n"))
    assert redact_lines(lines) == lines


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=1500))
def test_idempotent_on_arbitrary_text(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once
