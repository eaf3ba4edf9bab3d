"""Every kind of secret the product's one redaction table knows is gone from the prompt the
agent sends to an LLM: in log lines, in event messages, and under secret-named keys."""

from __future__ import annotations

import pytest

from agent.prompt import rationale_messages
from kubemedic_redact import MASK, RULES

# One sample per rule of the table: (rule, text carrying the secret, the secret).
SAMPLES = [
    ("pem_private_key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Zc8xq3T9b\n"
     "-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA0Zc8xq3T9b"),
    ("authorization_header", "GET /api Authorization: Digest uname=adm, resp=6629fae49393",
     "6629fae49393"),
    ("cookie_header", "request headers Cookie: sessionid=s3ss10nC00k1e; theme=dark",
     "s3ss10nC00k1e"),
    ("bearer_basic", "retrying with bearer tkn-0a9b8c7d6e5f after 401", "tkn-0a9b8c7d6e5f"),
    ("jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlc2ln expired",
     "eyJzdWIiOiJhZG1pbiJ9"),
    ("url_credentials", "dial postgres://orders:Pa55w0rdX@db:5432/orders failed", "Pa55w0rdX"),
    ("azure_sas_signature", "GET https://acct.blob.core.windows.net/c/b?sv=2022&sig=S1gN4tur3Val"
     " 403", "S1gN4tur3Val"),
    ("aws_access_key_id", "using key ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"),
    ("openai_anthropic_key", "llm client sk-proj-abcdEFGH12345678ijkl ready",
     "sk-proj-abcdEFGH12345678ijkl"),
    ("github_token", "clone with ghp_A1b2C3d4E5f6G7h8I9j0K1l2", "ghp_A1b2C3d4E5f6G7h8I9j0K1l2"),
    ("github_pat", "auth github_pat_11ABCDEFG0123456789_abcdefXYZ",
     "github_pat_11ABCDEFG0123456789_abcdefXYZ"),
    ("slack_token", "notifier xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
    ("gitlab_token", "push glpat-AbCdEfGhIjKlMnOpQrSt12", "glpat-AbCdEfGhIjKlMnOpQrSt12"),
    ("google_api_key", "maps AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "AIzaSyA1b2C3d4E5f6"),
    ("stripe_key", "billing rk_live_AbCdEfGh12345678XyZ", "rk_live_AbCdEfGh12345678XyZ"),
    ("json_secret_key", 'config {"client_secret": "cl13ntS3cr3t"}', "cl13ntS3cr3t"),
    ("key_value", "boot signature=5igV4lu3abc password=hunt3r2pw", "5igV4lu3abc"),
]  # fmt: skip


def _prompt(diagnosis: dict[str, object]) -> str:
    messages = rationale_messages(diagnosis, target="default/web-1", structured=False)
    return "\n".join(m.text for m in messages)


def test_every_rule_of_the_table_has_a_sample() -> None:
    assert {rule for rule, _, _ in SAMPLES} == {rule.name for rule in RULES}


@pytest.mark.parametrize(("rule", "text", "secret"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_the_prompt_carries_no_secret_of_any_kind(rule: str, text: str, secret: str) -> None:
    diagnosis: dict[str, object] = {
        "logs": {"errors": [text]},
        "events": [{"reason": "Failed", "message": text}],
    }
    prompt = _prompt(diagnosis)
    assert secret not in prompt, rule
    assert MASK in prompt


@pytest.mark.parametrize(
    "key", ["cookie", "Set-Cookie", "signature", "x-signature", "authorization", "DB_PASSWORD"]
)
def test_values_under_secret_keys_are_masked_in_the_prompt(key: str) -> None:
    prompt = _prompt({"container": {"env": {key: "v4lu3-0f-s3cr3t"}, "name": "app"}})
    assert "v4lu3-0f-s3cr3t" not in prompt and MASK in prompt
    assert '"app"' in prompt  # harmless values stay
