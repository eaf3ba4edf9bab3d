"""Fixtures: a KubeSim on a free port with a manual clock, real kubectl, the official client."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from kubesim import KubeSim

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "kube-apiserver-1.28"
if not REFERENCE.exists():
    REFERENCE = Path("/work/shared/reference/kube-apiserver-1.28")

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim(speed=0.0, port=0) as running:
        yield running


@pytest.fixture
def kubectl(sim: KubeSim, tmp_path: Path) -> Kubectl:
    """Run the real kubectl against the sim; `check=False` to inspect failures."""
    cache = tmp_path / "kube-cache"

    def run(
        *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        cmd = [KUBECTL, "--kubeconfig", str(sim.kubeconfig_path), "--cache-dir", str(cache), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    return run


@pytest.fixture
def api_client(sim: KubeSim) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(str(sim.kubeconfig_path))  # type: ignore[no-untyped-call]
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)
