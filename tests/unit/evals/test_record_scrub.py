"""What `kubemedic record` writes never contains secret material."""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from agent.redaction import MASK
from evals.record import SCRUBBED, scrub_line, scrub_object


def pod_with_env(value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": f'{{"v":"{value}"}}'
            },
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {
            "containers": [
                {"name": "app", "image": "x", "env": [{"name": "DB_PASSWORD", "value": value}],
                 "args": ["--token=abcdefghijklmnop", "--port=8080"]}
            ]
        },
    }  # fmt: skip


def test_env_values_last_applied_and_managed_fields_are_dropped() -> None:
    found: set[str] = set()
    out = scrub_object(pod_with_env("s3cr3t-value"), found)
    assert "s3cr3t-value" not in str(out)
    assert out["spec"]["containers"][0]["env"][0] == {"name": "DB_PASSWORD", "value": SCRUBBED}
    assert "managedFields" not in out["metadata"]
    assert "--port=8080" in out["spec"]["containers"][0]["args"]
    assert "abcdefghijklmnop" not in str(out["spec"]["containers"][0]["args"])
    assert found == {"s3cr3t-value"}


def test_templates_are_scrubbed_like_pods() -> None:
    pod = pod_with_env("tmpl-secret-1")
    deploy = {
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": {"spec": pod["spec"]}},
    }
    assert "tmpl-secret-1" not in str(scrub_object(deploy))


def test_secret_values_go_keys_stay_configmap_values_are_scanned() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "aHVudGVyMg=="},
              "stringData": {"token": "plain"}}  # fmt: skip
    out = scrub_object(secret)
    assert out["data"] == {"password": ""} and out["stringData"] == {"token": ""}
    cm = scrub_object(
        {"kind": "ConfigMap", "metadata": {"name": "c"},
         "data": {"url": "x://u:p@h", "api_token": "t0k3n", "mode": "prod"}}
    )  # fmt: skip
    # Secret-looking keys lose their value; every other value is scanned, its context kept.
    assert cm["data"] == {"url": f"x://u:{MASK}@h", "api_token": SCRUBBED, "mode": "prod"}


def test_event_messages_and_log_lines_lose_credentials() -> None:
    event = {
        "kind": "Event",
        "metadata": {"name": "e"},
        "message": "auth failed for postgres://app:pw123456@db",
    }
    assert "pw123456" not in scrub_object(event)["message"]
    line = "ERROR Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl used"
    assert "eyJhbGciOiJIUzI1NiJ9" not in scrub_line(line, set())


@given(
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=4, max_size=40),
    st.text(max_size=40),
    st.text(max_size=40),
)
def test_an_env_value_never_survives_in_a_log_line(value: str, before: str, after: str) -> None:
    assume(value not in MASK)  # a "secret" that is part of the mask text itself
    found: set[str] = set()
    scrub_object(pod_with_env(value), found)
    assert value not in scrub_line(before + value + after, found)
