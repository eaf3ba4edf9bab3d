"""`kubemedic sim` as a user runs it: serve, write a kubeconfig, apply scenarios, stop on Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.kubesim.conftest import KUBECTL

pytestmark = pytest.mark.slow  # starts the whole CLI twice

SCENARIO = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: cart, namespace: shop}
spec:
  containers: [{name: app, image: "nginx:1.25"}]
"""


def test_sim_command_serves_scenarios_until_interrupted(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    scenario = tmp_path / "shop.yaml"
    scenario.write_text(SCENARIO)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubemedic",
            "sim",
            "--kubeconfig",
            str(kubeconfig),
            "--speed",
            "5",
            "--scenario",
            str(scenario),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not kubeconfig.exists():  # written once the server listens
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "kubeconfig never appeared"
            time.sleep(0.05)
        result = subprocess.run(
            [
                KUBECTL,
                "--kubeconfig",
                str(kubeconfig),
                "--cache-dir",
                str(tmp_path / "cache"),
                "get",
                "pods",
                "-n",
                "shop",
                "-o",
                "name",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "pod/cart"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "applied" in out and "kubesim listening on https://127.0.0.1:" in out


def test_sim_command_rejects_a_bad_scenario(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v9\nkind: Gadget\nmetadata: {name: x}\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubemedic",
            "sim",
            "--kubeconfig",
            str(tmp_path / "kc"),
            "--scenario",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "does not serve Gadget" in result.stdout


def test_sim_command_serves_the_kube_version_asked_for(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubemedic",
            "sim",
            "--kubeconfig",
            str(kubeconfig),
            "--kube-version",
            "1.33",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not kubeconfig.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "kubeconfig never appeared"
            time.sleep(0.05)
        result = subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "--raw", "/version"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["gitVersion"] == "v1.33.0"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Kubernetes v1.33.0" in out


def test_sim_command_refuses_an_unknown_kube_version(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubemedic",
            "sim",
            "--kubeconfig",
            str(tmp_path / "kc"),
            "--kube-version",
            "1.30",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "1.30" in result.stderr
