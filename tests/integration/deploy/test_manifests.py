"""Deployment manifests: valid against the Kubernetes schemas, wired together, locked down."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer
import yaml

from kubemedic.cli import app as cli_app
from kubemedic.settings import Settings
from policies import load_policy

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "k8s"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
# The oldest Kubernetes minor we support and the newest the validator knows.
VERSIONS = ("1.28.0", kubernetes_validate.latest_version())
NAMESPACE = "kubemedic"
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _all() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in _docs(path)]


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    (doc,) = [
        d for d in _all() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    return doc


def _ids(path: Path) -> str:
    return path.name


@pytest.mark.parametrize("path", MANIFESTS, ids=_ids)
@pytest.mark.parametrize("version", VERSIONS)
def test_manifest_validates_against_the_kubernetes_schema(path: Path, version: str) -> None:
    docs = _docs(path)
    assert docs, f"{path.name} is empty"
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            continue  # checked against the operator's shape below
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    broken = _one("Deployment")
    broken = {**broken, "spec": {**broken["spec"], "replicas": "one"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)
    unknown_field = {**_one("Service"), "spek": {}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown_field, VERSIONS[-1], strict=True)


def test_servicemonitor_has_the_operator_shape() -> None:
    sm = _one("ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(sm) == {"apiVersion", "kind", "metadata", "spec"}
    assert sm["metadata"]["name"] and sm["metadata"]["namespace"] == NAMESPACE
    spec = sm["spec"]
    assert set(spec) <= {
        "selector",
        "namespaceSelector",
        "endpoints",
        "jobLabel",
        "targetLabels",
        "podTargetLabels",
        "sampleLimit",
        "attachMetadata",
    }
    assert spec["selector"]["matchLabels"]
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    allowed = {
        "port",
        "path",
        "scheme",
        "interval",
        "scrapeTimeout",
        "honorLabels",
        "honorTimestamps",
        "relabelings",
        "metricRelabelings",
        "tlsConfig",
        "params",
        "authorization",
    }
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= allowed
        assert isinstance(endpoint["port"], str)
        # The metrics' own namespace/pod labels must win over the target's.
        assert endpoint["honorLabels"] is True
    # The MCP server's /metrics asks for a metrics-scope token (kubemedic mcp --metrics-auth).
    (server,) = [e for e in spec["endpoints"] if e["port"] == "http"]
    assert server["authorization"]["type"] == "Bearer"
    assert set(server["authorization"]["credentials"]) == {"name", "key"}
    assert "jobLabel" not in spec, "the alert rules expect job=<service name>"


def test_every_manifest_is_in_the_kustomization_and_it_builds() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert sorted(kustomization["resources"]) == sorted(p.name for p in MANIFESTS)
    built = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(built) if d)
    assert kinds == sorted(d["kind"] for d in _all())


def test_namespaced_objects_live_in_the_kubemedic_namespace() -> None:
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for doc in _all():
        meta = doc["metadata"]
        if doc["kind"] in cluster_scoped:
            assert "namespace" not in meta, doc["kind"]
        else:
            assert meta.get("namespace") == NAMESPACE, doc["kind"]
        assert meta["labels"]["app.kubernetes.io/name"] == "kubemedic"
    assert _one("Namespace")["metadata"]["name"] == NAMESPACE


def _pod() -> dict[str, Any]:
    return dict(_one("Deployment")["spec"]["template"]["spec"])


def _containers() -> dict[str, dict[str, Any]]:
    return {c["name"]: dict(c) for c in _pod()["containers"]}


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _volumes() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in _pod()["volumes"]}


def test_pod_runs_locked_down() -> None:
    pod = _pod()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] >= 10000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "hostNetwork" not in pod and "hostPID" not in pod
    assert set(_containers()) == {"server", "agent"}
    for name, container in _containers().items():
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["privileged"] is False, name
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["capabilities"] == {"drop": ["ALL"]}, name
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
    labels = _one("Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_probes_resources_and_writable_paths() -> None:
    server = _containers()["server"]
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert server["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    state_volumes = set()
    for name, c in _containers().items():
        assert "livenessProbe" in c, name
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if probe in c:
                assert c[probe]["httpGet"]["port"] in {p["name"] for p in c["ports"]}, name
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]), name
        assert "memory" in c["resources"]["limits"], name
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        # With a read-only root, everything written goes to a volume: state and /tmp, and
        # both processes of a pod share the same state directory.
        state = mounts[_env(c)["KUBEMEDIC_STATE_DIR"]["value"]]
        state_volumes.add(state["name"])
        assert "emptyDir" in _volumes()[mounts["/tmp"]["name"]], name
    (state_volume,) = state_volumes
    assert "emptyDir" in _volumes()[state_volume]
    agent = _containers()["agent"]
    assert agent["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert agent["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_two_replicas_elect_a_leader_and_share_state_through_the_database() -> None:
    deployment = _one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    agent = _containers()["agent"]
    assert "--leader-elect" in agent["args"]
    identity = _env(agent)["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert identity == "metadata.name"
    # The shared store is optional: a missing Secret leaves each pod on its own SQLite.
    for name, c in _containers().items():
        ref = _env(c)["KUBEMEDIC_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "kubemedic-database", "key": "url", "optional": True}, name
    pdb = _one("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("name", ["server", "agent"])
def test_policy_comes_from_the_configmap_and_is_a_valid_policy(name: str, tmp_path: Path) -> None:
    c = _containers()[name]
    policy_path = Path(_env(c)["KUBEMEDIC_POLICY"]["value"])
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    mount = mounts[str(policy_path.parent)]
    assert mount["readOnly"] is True
    configmap = _one("ConfigMap")
    assert _volumes()[mount["name"]]["configMap"]["name"] == configmap["metadata"]["name"]
    text = configmap["data"][policy_path.name]
    (tmp_path / "policy.yaml").write_text(text, encoding="utf-8")
    policy = load_policy(tmp_path / "policy.yaml")
    assert policy == load_policy(ROOT / "policies" / "default.yaml"), (
        "k8s/configmap-policy.yaml drifted from policies/default.yaml: copy the file into its "
        "`policy.yaml: |` block (indented four spaces)"
    )
    assert policy.agent_namespace == NAMESPACE


def _cli_command(args: list[str]) -> Any:
    """The click command behind `kubemedic <args[0]>` (typer vendors its own click)."""
    group: Any = typer.main.get_command(cli_app)
    command = group.commands.get(args[0])
    assert command is not None, f"`kubemedic {args[0]}` is not a command"
    return command


@pytest.mark.parametrize("name", ["server", "agent"])
def test_container_args_are_real_cli_options(name: str) -> None:
    args = _containers()[name]["args"]
    command = _cli_command(args)
    options = {opt for param in command.params for opt in param.opts}
    given = [a for a in args[1:] if a.startswith("--")]
    assert given and set(given) <= options, sorted(set(given) - options)
    # And click accepts the whole line (types, values) as the container would run it.
    command.make_context(f"kubemedic {args[0]}", list(args[1:]))


def test_agent_reaches_the_server_over_loopback_and_tokens_come_from_a_secret() -> None:
    server, agent = _containers()["server"], _containers()["agent"]
    server_port = {p["name"]: p["containerPort"] for p in server["ports"]}["http"]
    url = agent["args"][agent["args"].index("--mcp-url") + 1]
    assert url == f"http://127.0.0.1:{server_port}/mcp"
    metrics_port = int(agent["args"][agent["args"].index("--metrics-port") + 1])
    assert {p["containerPort"] for p in agent["ports"]} == {metrics_port}
    # The server reads its token list from the Secret volume ...
    tokens_file = Path(server["args"][server["args"].index("--tokens") + 1])
    mount = next(m for m in server["volumeMounts"] if m["mountPath"] == str(tokens_file.parent))
    secret = _volumes()[mount["name"]]["secret"]
    assert secret["defaultMode"] == 0o400 and mount["readOnly"] is True
    assert [i["path"] for i in secret["items"]] == [tokens_file.name]
    # ... and the agent presents its own token from the same Secret, never a literal.
    token = _env(agent)["KUBEMEDIC_MCP_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token["name"] == secret["secretName"]
    assert all("value" not in e for e in agent["env"] if "TOKEN" in e["name"])
    # Only the agent container sees the Secret's other keys: the server mounts just its file.
    assert all(m["name"] != mount["name"] for m in agent["volumeMounts"])


@pytest.mark.parametrize("name", ["server", "agent"])
def test_every_variable_is_read_by_the_settings_or_the_command(name: str) -> None:
    c = _containers()[name]
    known = {f"KUBEMEDIC_{field.upper()}" for field in Settings.model_fields}
    command = _cli_command(c["args"])
    for param in command.params:
        envvar = getattr(param, "envvar", None)
        if isinstance(envvar, str):
            known.add(envvar)
    for variable in _env(c):
        if variable.startswith("KUBEMEDIC_"):
            assert variable in known, variable
    # The agent's own namespace comes from the downward API: it is protected from itself.
    field_ref = _env(c)["KUBEMEDIC_NAMESPACE"]["valueFrom"]["fieldRef"]
    assert field_ref["fieldPath"] == "metadata.namespace"


def test_service_servicemonitor_and_networkpolicy_select_the_pod() -> None:
    pod_labels = _one("Deployment")["spec"]["template"]["metadata"]["labels"]
    deployment_selector = _one("Deployment")["spec"]["selector"]["matchLabels"]
    assert deployment_selector.items() <= pod_labels.items()
    service = _one("Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    port_names = {p["name"] for c in _containers().values() for p in c["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in port_names
    sm = _one("ServiceMonitor")
    assert sm["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert {e["port"] for e in sm["spec"]["endpoints"]} <= {
        p["name"] for p in service["spec"]["ports"]
    }
    netpol = _one("NetworkPolicy")
    assert netpol["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert set(netpol["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    for rule in netpol["spec"]["ingress"]:
        assert {p["port"] for p in rule["ports"]} <= port_names
    # The Prometheus job is named after the Service; the alert rules expect job="kubemedic".
    rules = (K8S / "prometheus" / "rules.yaml").read_text(encoding="utf-8")
    assert f'job="{service["metadata"]["name"]}"' in rules


def test_the_service_account_is_bound_to_the_cluster_role() -> None:
    sa = _one("ServiceAccount", "kubemedic")
    binding = _one("ClusterRoleBinding")
    role = _one("ClusterRole")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert (
        _one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
        == sa["metadata"]["name"]
    )


def test_cluster_role_has_no_wildcards_and_no_secrets() -> None:
    for rule in _one("ClusterRole")["rules"]:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], rule
        assert "secrets" not in rule["resources"]
        assert "escalate" not in rule["verbs"] and "bind" not in rule["verbs"]
        assert "impersonate" not in rule["verbs"]


def test_only_the_server_container_holds_kubernetes_credentials() -> None:
    """The agent reads untrusted text and talks to an LLM: it reaches the cluster only through
    the MCP server, so it must not hold the ServiceAccount token."""
    sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert _pod()["automountServiceAccountToken"] is False
    assert _one("ServiceAccount", "kubemedic")["automountServiceAccountToken"] is False
    mounts = {
        name: {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        for name, c in _containers().items()
    }
    # The agent holds one credential: the leader-election ServiceAccount's token, whose only
    # binding is the Role on the Lease (test_the_agent_token_is_good_for_the_lease_alone).
    agent_token = _volumes()[mounts["agent"].pop(sa_dir)]["secret"]["secretName"]
    assert agent_token == "kubemedic-leader-election-token"
    volume = _volumes()[mounts["server"][sa_dir]]
    sources = volume["projected"]["sources"]
    token = next(s["serviceAccountToken"] for s in sources if "serviceAccountToken" in s)
    assert token["path"] == "token" and token["expirationSeconds"] <= 3607
    assert any(s.get("configMap", {}).get("name") == "kube-root-ca.crt" for s in sources)
    projected_volumes = {n for n, v in _volumes().items() if "projected" in v or "secret" in v}
    for mount_name in mounts["agent"].values():
        assert mount_name not in projected_volumes, mount_name


def test_the_agent_token_is_good_for_the_lease_alone() -> None:
    secret = _one("Secret", "kubemedic-leader-election-token")
    assert secret["type"] == "kubernetes.io/service-account-token"
    account = secret["metadata"]["annotations"]["kubernetes.io/service-account.name"]
    assert _one("ServiceAccount", account)["automountServiceAccountToken"] is False
    bindings = [
        d
        for d in _all()
        if d["kind"] in ("RoleBinding", "ClusterRoleBinding")
        and any(s.get("name") == account for s in d["subjects"])
    ]
    assert [b["roleRef"]["kind"] for b in bindings] == ["Role"]
    role = _one("Role", bindings[0]["roleRef"]["name"])
    assert role["metadata"]["namespace"] == NAMESPACE
    targets = {
        (g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    }
    assert targets == {("coordination.k8s.io", "leases")}
    lease_name = next(r["resourceNames"] for r in role["rules"] if "update" in r["verbs"])
    agent = _containers()["agent"]
    assert "--lease-name" not in agent["args"] and lease_name == ["kubemedic-leader"]
