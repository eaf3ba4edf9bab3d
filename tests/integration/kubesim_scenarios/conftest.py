"""A KubeSim with a manual clock, real kubectl, and the official client."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from kubesim import KubeSim

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
SCENARIOS = Path(__file__).resolve().parents[3] / "k8s" / "scenarios"

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(speed=0.0, port=0) as running:
        yield running


@pytest.fixture
def kubectl(sim: KubeSim, tmp_path: Path) -> Kubectl:
    cache = tmp_path / "kube-cache"

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [KUBECTL, "--kubeconfig", str(sim.kubeconfig_path), "--cache-dir", str(cache), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    return run


@pytest.fixture
def kubectl_json(kubectl: Kubectl) -> Callable[..., Any]:
    def run(*args: str) -> Any:
        return json.loads(kubectl(*args, "-o", "json").stdout)

    return run


@contextmanager
def _api_client(sim: KubeSim) -> Iterator[client.ApiClient]:
    # The kubernetes package ships no annotations for its config loaders.
    api = config.new_client_from_config(str(sim.kubeconfig_path))  # type: ignore[no-untyped-call]
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def core(sim: KubeSim) -> Iterator[client.CoreV1Api]:
    with _api_client(sim) as api:
        yield client.CoreV1Api(api)


@pytest.fixture
def apps(sim: KubeSim) -> Iterator[client.AppsV1Api]:
    with _api_client(sim) as api:
        yield client.AppsV1Api(api)


def scenario(name: str) -> str:
    return str(SCENARIOS / f"{name}.yaml")
