"""The Dockerfile, read (no Docker engine here): multi-stage, slim, non-root, read-only friendly,
healthchecked, and in step with the Deployment and the package layout."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [args for o, args in self.instructions if o == op]


def _instructions(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not current):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            op, _, args = current.strip().partition(" ")
            out.append((op.upper(), args.strip()))
        current = ""
    return out


def _stages() -> tuple[dict[str, str], list[Stage]]:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for op, rest in _instructions((ROOT / "Dockerfile").read_text(encoding="utf-8")):
        if op == "ARG" and not stages:
            key, _, value = rest.partition("=")
            args[key] = value
        elif op == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        else:
            stages[-1].instructions.append((op, rest))
    return args, stages


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"use the exec form: {args}"
    return [str(v) for v in value]


def _env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for token in shlex.split(args):
            key, _, value = token.partition("=")
            env[key] = value
    return env


def _deployment_containers() -> dict[str, dict[str, Any]]:
    deployment = yaml.safe_load((ROOT / "k8s" / "deployment.yaml").read_text(encoding="utf-8"))
    return {c["name"]: dict(c) for c in deployment["spec"]["template"]["spec"]["containers"]}


@pytest.fixture(scope="module")
def final() -> Stage:
    return _stages()[1][-1]


def test_multi_stage_on_python_311_slim() -> None:
    _, stages = _stages()
    assert len(stages) >= 2
    for stage in stages:
        assert stage.base.startswith("python:3.11-slim"), stage.base
    assert stages[0].name == "build"


def test_wheels_are_built_in_the_first_stage_and_only_the_result_is_copied(final: Stage) -> None:
    build = _stages()[1][0]
    assert any("pip wheel" in run for run in build.all("RUN"))
    copies = final.all("COPY")
    assert copies and all(c.startswith("--from=build ") for c in copies), copies
    for run in final.all("RUN"):
        assert "apt-get install" not in run and "pip install" not in run
        for tool in ("build-essential", "gcc", "git", "curl"):
            assert tool not in run.split(), run


def test_runs_as_a_numeric_non_root_user_matching_the_deployment(final: Stage) -> None:
    (user,) = final.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 10000 and gid.isdigit()
    pod = yaml.safe_load((ROOT / "k8s" / "deployment.yaml").read_text(encoding="utf-8"))
    security = pod["spec"]["template"]["spec"]["securityContext"]
    assert security["runAsUser"] == int(uid)
    assert security["runAsGroup"] == int(gid)


def test_read_only_root_filesystem_friendly(final: Stage) -> None:
    env = _env(final)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["TMPDIR"] == "/tmp" and env["HOME"] == "/tmp"
    state = env["KUBEMEDIC_STATE_DIR"]
    assert _exec_form(final.all("VOLUME")[0]) == [state]
    for container in _deployment_containers().values():
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {state, "/tmp"} <= mounts, container["name"]


def test_healthcheck_probes_healthz_on_the_exposed_port(final: Stage) -> None:
    (check,) = final.all("HEALTHCHECK")
    (exposed,) = final.all("EXPOSE")
    assert f"127.0.0.1:{exposed}/healthz" in check
    assert check.split("CMD", 1)[1].strip().startswith("[")
    server = _deployment_containers()["server"]
    assert {p["containerPort"] for p in server["ports"]} == {int(exposed)}


def test_entrypoint_and_command_match_the_deployment(final: Stage) -> None:
    """The default command is the server container's; every container runs the same image."""
    assert _exec_form(final.all("ENTRYPOINT")[0]) == ["kubemedic"]
    containers = _deployment_containers()
    assert _exec_form(final.all("CMD")[0]) == containers["server"]["args"]
    assert len({c["image"] for c in containers.values()}) == 1
    assert all("command" not in c for c in containers.values())


def _packages() -> set[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return {
        p.parent.name
        for p in ROOT.glob("*/__init__.py")
        if any(fnmatch.fnmatch(p.parent.name, pattern) for pattern in include)
    }


def test_every_package_is_copied_into_the_build_stage() -> None:
    build = _stages()[1][0]
    copied = {c.split()[0] for c in build.all("COPY")}
    assert _packages() <= copied
    assert {"pyproject.toml", "README.md"} <= {w for c in build.all("COPY") for w in c.split()}


def test_dockerignore_keeps_secrets_and_state_out_but_the_build_inputs_in() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(
            fnmatch.fnmatch(path, p)
            or fnmatch.fnmatch(path, p.removeprefix("**/"))
            or path.startswith(p.rstrip("/") + "/")
            for p in patterns
        )

    for path in (".git", ".venv", "var", "var/approvals.sqlite", "tests", ".env", "kubeconfig"):
        assert ignored(path), path
    for path in ("pyproject.toml", "README.md", *sorted(_packages())):
        assert not ignored(path), path
