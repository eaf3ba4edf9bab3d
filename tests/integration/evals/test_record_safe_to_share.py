"""`kubemedic record` output is safe to share, and records what it may not read as notes.

Real parts: kubesim over HTTP, the official client inside `record`, the scenario YAML as the
command writes it, and the eval harness replaying the recording.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from evals.format import Scenario, dump_scenario, load_scenario
from evals.harness import run_scenario
from evals.record import RecordError, record
from kubemedic.cli import app
from kubesim import KubeSim
from kubesim.store import PODS

NS = "shop"
PEM_BODY = ["MIIEpAIBAAKCAQEAlogPemBodyLine0001xyz", "QmFzZTY0TG9nUGVtQm9keUxpbmUwMDAyYWJj"]
GCP_KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCGCPbody0001"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzaG9wIn0.U2lnbmF0dXJlSldUMDAxMg"

# Fifteen kinds of secret, one each; every value here must be absent from the recording.
SECRETS = {
    "secret_data": "Sekr1t-DbPass-9931",
    "env_password": "EnvLit-DbPw-2290",
    "env_aws_key": "AKIAQWERTYUIOP123456",
    "annotation_token": "dtok-Annot-7781x",
    "last_applied": "LastApplied-Tok-4410",
    "configmap_dsn": "Cm-Conn-Pw-5521",
    "arg_api_key": "ArgKey-Value-6612",
    "log_pem_line_1": PEM_BODY[0],
    "log_pem_line_2": PEM_BODY[1],
    "log_jwt": JWT,
    "log_bearer": "hdrTok-5567-abcdef",
    "log_github": "ghp_R3c0rdT3stT0k3nAbcdefghijklmnop1234",
    "log_slack": "xoxb-2468013579-RecordTest-Slack",
    "log_stripe": "sk_live_51RecordTestStripeKey0000",
    "gcp_private_key": GCP_KEY_BODY,
    "gcp_private_key_id": "4b1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
    "azure_sas": "Az5SasSigValue0987",
}

GCP_JSON = json.dumps(
    {
        "type": "service_account",
        "project_id": "shop-prod",
        "private_key_id": SECRETS["gcp_private_key_id"],
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{GCP_KEY_BODY}\n-----END PRIVATE KEY-----\n",
        "client_email": "uploader@shop-prod.iam.gserviceaccount.com",
    },
    indent=2,
)
LAST_APPLIED = json.dumps(
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "shop-creds", "namespace": NS},
        "stringData": {"api-token": SECRETS["last_applied"]},
    }
)


def manifests() -> list[dict[str, Any]]:
    b64 = base64.b64encode(SECRETS["secret_data"].encode()).decode()
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "shop-creds",
                "namespace": NS,
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": LAST_APPLIED},
            },
            "data": {"db-password": b64},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "shop-config", "namespace": NS},
            "data": {
                "DATABASE_URL": f"postgres://shop:{SECRETS['configmap_dsn']}@db.shop.svc/shop",
                "gcp.json": GCP_JSON,
                "LOG_LEVEL": "debug",
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "shop", "namespace": NS},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "shop"}},
                "template": {
                    "metadata": {
                        "labels": {"app": "shop"},
                        "annotations": {
                            "example.com/deploy-token": SECRETS["annotation_token"],
                            "kubesim.io/crash-after": "3s",
                            "kubesim.io/exit-code": "1",
                        },
                    },
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": "busybox:1.36",
                                "args": [f"--api-key={SECRETS['arg_api_key']}", "--listen=:8080"],
                                "env": [
                                    {"name": "DB_PASSWORD", "value": SECRETS["env_password"]},
                                    {"name": "S3_UPLOADER_ID", "value": SECRETS["env_aws_key"]},
                                    {
                                        "name": "BLOB_URL",
                                        "value": "https://shop.blob.core.windows.net/in?sv=2022-11"
                                        f"-02&sp=rw&sig={SECRETS['azure_sas']}%3D&se=2031-01-01",
                                    },
                                    {
                                        "name": "DB_SECRET",
                                        "valueFrom": {
                                            "secretKeyRef": {
                                                "name": "shop-creds",
                                                "key": "db-password",
                                            }
                                        },
                                    },
                                ],
                                "envFrom": [{"configMapRef": {"name": "shop-config"}}],
                                "resources": {
                                    "limits": {"memory": "64Mi"},
                                    "requests": {"memory": "32Mi", "cpu": "10m"},
                                },
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "shop", "namespace": NS},
            "spec": {"minAvailable": 0, "selector": {"matchLabels": {"app": "shop"}}},
        },
    ]


LOG_LINES = [
    "INFO shop starting on :8080",
    "ERROR payment gateway call failed: upstream 502",
    "DEBUG loaded signing key:",
    "-----BEGIN RSA PRIVATE KEY-----",
    *PEM_BODY,
    "-----END RSA PRIVATE KEY-----",
    f"DEBUG verified session {JWT}",
    f"DEBUG outbound headers: Authorization: Bearer {SECRETS['log_bearer']}",
    f"WARN cloning with {SECRETS['log_github']}",
    f"WARN notifying {SECRETS['log_slack']}",
    f"INFO charging with {SECRETS['log_stripe']}",
    "FATAL giving up after 3 retries",
]


@pytest.fixture
def incident() -> Iterator[tuple[KubeSim, str]]:
    with KubeSim() as sim:
        sim.load(manifests())
        sim.advance(60, step=5)  # a few crashes: CrashLoopBackOff
        pods = sim.store.list(PODS, NS)
        assert pods
        pod = pods[0]["metadata"]["name"]
        now = sim.clock.seconds()
        for i, line in enumerate(LOG_LINES):
            sim.logs.append(NS, pod, "app", line, now + i * 0.01)
        yield sim, pod


def test_none_of_fifteen_planted_secrets_reaches_the_recording(
    incident: tuple[KubeSim, str], tmp_path: Path
) -> None:
    sim, pod = incident
    out = tmp_path / "record.yaml"
    result = CliRunner().invoke(
        app,
        ["record", "--kubeconfig", str(sim.kubeconfig_path), "-n", NS, "-p", pod,
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = out.read_text()
    b64 = base64.b64encode(SECRETS["secret_data"].encode()).decode()
    leaked = [kind for kind, value in SECRETS.items() if value in text] + (
        ["secret_data_base64"] if b64 in text else []
    )
    assert leaked == []
    # The context a reviewer needs is still there.
    for kept in (
        pod,
        "busybox:1.36",
        "ERROR payment gateway call failed: upstream 502",
        "FATAL giving up after 3 retries",
        "--listen=:8080",
        "DB_PASSWORD",
        "DATABASE_URL",
        "db.shop.svc",
        "shop-creds",
        "db-password",
        "LOG_LEVEL",
        "uploader@shop-prod.iam.gserviceaccount.com",
        "shop.blob.core.windows.net",
    ):
        assert kept in text, kept  # fmt: skip
    scenario = load_scenario(out)
    kinds = {o["kind"] for o in scenario.cluster.objects}
    recorded = {"Pod", "Deployment", "ReplicaSet", "Secret", "ConfigMap", "PodDisruptionBudget"}
    assert recorded <= kinds
    assert scenario.notes == []
    log = next(entry for entry in scenario.logs if entry.pod == pod)
    assert "-----BEGIN RSA PRIVATE KEY-----" not in log.current  # the whole block went


def test_what_the_credentials_may_not_read_becomes_a_note(
    incident: tuple[KubeSim, str], tmp_path: Path
) -> None:
    sim, pod = incident
    # The shipped RBAC: no Secrets, ConfigMaps or namespaces; ReplicaSets only by listing.
    for resource in ("secrets", "configmaps", "poddisruptionbudgets"):
        sim.faults.forbid(resource)
    sim.faults.forbid("namespaces", verbs=("get",))
    sim.faults.forbid("replicasets", verbs=("get",))
    out = tmp_path / "record.yaml"
    result = CliRunner().invoke(
        app,
        ["record", "--kubeconfig", str(sim.kubeconfig_path), "-n", NS, "-p", pod,
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scenario = load_scenario(out)
    noted = {(n.kind, n.name, n.status, n.reason) for n in scenario.notes}
    assert noted == {
        ("Namespace", NS, 403, "Forbidden"),
        ("Secret", "shop-creds", 403, "Forbidden"),
        ("ConfigMap", "shop-config", 403, "Forbidden"),
        ("PodDisruptionBudget", None, 403, "Forbidden"),
    }
    assert all("is forbidden" in n.message for n in scenario.notes)
    kinds = {o["kind"] for o in scenario.cluster.objects}
    assert {"Pod", "ReplicaSet", "Deployment"} <= kinds  # the ReplicaSet found by listing
    assert not kinds & {"Secret", "ConfigMap", "PodDisruptionBudget", "Namespace"}
    assert "notes" in yaml.safe_load(out.read_text())
    # The recording replays: the unreadable Secret and ConfigMap are not diagnosed missing.
    replay = asyncio.run(run_scenario(scenario))
    assert replay.error is None
    assert "CrashLoopBackOff" in replay.detected_issues
    assert not any("Missing" in issue for issue in replay.detected_issues)


def test_an_unreadable_pod_is_the_one_fatal_error(incident: tuple[KubeSim, str]) -> None:
    sim, pod = incident
    sim.faults.forbid("pods", verbs=("get",))
    with pytest.raises(RecordError, match=r"cannot read pod shop/.*403 Forbidden.*get on pods"):
        record(NS, pod, kubeconfig=sim.kubeconfig_path)


def test_a_failed_log_read_is_recorded_as_a_failure_and_replays() -> None:
    pull_failure = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "puller", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "registry.example.com/nosuch:0.0"}]},
    }
    with KubeSim() as sim:
        sim.load([pull_failure])
        sim.advance(30, step=5)
        scenario = record("default", "puller", kubeconfig=sim.kubeconfig_path)
    (entry,) = scenario.logs
    # A container waiting on its image has no log: the server's 400 is recorded, not "no lines".
    assert entry.current == [] and entry.current_error is not None
    assert entry.current_error.status == 400 and entry.current_error.reason == "BadRequest"
    assert "waiting to start" in entry.current_error.message
    assert entry.previous_error is not None and entry.previous_error.status == 400
    reloaded = Scenario.model_validate(yaml.safe_load(dump_scenario(scenario)))
    assert reloaded.logs[0].current_error == entry.current_error
    replay = asyncio.run(run_scenario(reloaded))
    assert replay.error is None
