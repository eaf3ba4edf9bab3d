"""What a container does, decided from its image and command (and annotations)."""

from __future__ import annotations

from kubesim.controllers.behaviour import FOREVER, Behaviour, container_behaviour
from kubesim.images import ImageCatalog, PullOutcome, parse_image, pull_error


def _b(
    image: str,
    command: list[str] | None = None,
    args: list[str] | None = None,
    annotations: dict[str, str] | None = None,
) -> Behaviour:
    container: dict[str, object] = {"name": "c", "image": image}
    if command:
        container["command"] = command
    if args:
        container["args"] = args
    return container_behaviour({"metadata": {"annotations": annotations or {}}}, container)


def test_an_application_image_with_its_own_command_keeps_running() -> None:
    b = _b("registry.example.com/shop/checkout:1.4.2", ["/app/server", "--port", "8080"])
    assert b.runs_for == FOREVER and b.exit_code == 0


def test_a_shell_script_runs_in_any_image() -> None:
    b = _b("myorg/api:2.0", ["/bin/sh", "-c", "echo boot; exit 4"])
    assert b.runs_for == 0 and b.exit_code == 4
    assert list(b.lines_between(-1, 1)) == [(0.0, "boot")]


def test_busybox_without_a_command_exits_at_once_and_unknown_commands_are_127() -> None:
    assert _b("busybox").runs_for == 0 and _b("busybox").exit_code == 0
    b = _b("busybox", ["sh", "-c", "frobnicate --now"])
    assert b.exit_code == 127 and list(b.lines_between(-1, 0)) == [
        (0.0, "sh: frobnicate: not found")
    ]
    assert _b("busybox", ["sleep", "3600"]).runs_for == 3600


def test_python_images_run_what_exists_and_fail_on_what_does_not() -> None:
    assert _b("python:3.12-slim", ["python", "-m", "http.server", "8080"]).runs_for == FOREVER
    missing = _b("python:3.12", ["python", "-m", "reports"])
    assert missing.exit_code == 1
    assert list(missing.lines_between(-1, 0)) == [
        (0.0, "/usr/local/bin/python: No module named reports")
    ]
    assert _b("python:3.12", ["python", "app.py"]).exit_code == 2
    assert _b("python:3.12").runs_for == 0


def test_stress_holds_what_it_is_told_and_is_oom_killed_over_the_limit() -> None:
    b = _b("polinux/stress", ["stress"], ["--vm", "2", "--vm-bytes", "64M", "--cpu", "1"])
    assert b.memory == 2 * 64 * 2**20 + 2**20 and b.cpu == 1001.0
    assert b.oom_after(100 * 2**20) == 1.0
    assert b.oom_after(256 * 2**20) is None


def test_annotations_scope_to_images_and_containers() -> None:
    annotations = {"kubesim.io/when-image": "*:2.0", "kubesim.io/crash-after": "30s"}
    assert _b("myorg/api:2.0", annotations=annotations).runs_for == 30
    assert _b("myorg/api:1.9", annotations=annotations).runs_for == FOREVER
    scoped = {"kubesim.io/containers": "sidecar", "kubesim.io/memory": "1Gi"}
    assert _b("nginx:1.25", annotations=scoped).memory != 2**30


def test_leak_reaches_the_limit_when_arithmetic_says() -> None:
    b = _b(
        "nginx:1.25",
        annotations={"kubesim.io/memory": "64Mi", "kubesim.io/memory-growth": "16Mi/min"},
    )
    assert abs((b.oom_after(128 * 2**20) or 0) - 240.0) < 1e-6
    assert b.memory_at(60) == 80 * 2**20


def test_image_references_normalise_like_containerd() -> None:
    assert parse_image("nginx").full == "docker.io/library/nginx:latest"
    assert parse_image("polinux/stress").full == "docker.io/polinux/stress:latest"
    assert parse_image("localhost:5000/app:1").full == "localhost:5000/app:1"
    assert parse_image("registry.k8s.io/pause:3.9").short_repo == "registry.k8s.io/pause"


def test_catalog_answers_like_the_registries() -> None:
    catalog = ImageCatalog()
    assert catalog.resolve("nginx:1.25", has_credentials=False) is PullOutcome.OK
    assert catalog.resolve("nginx:1.161", has_credentials=False) is PullOutcome.NOT_FOUND
    assert catalog.resolve("someone/thing:1", has_credentials=False) is PullOutcome.NO_REPOSITORY
    assert (
        catalog.resolve("ghcr.example.io/x/y:1", has_credentials=False) is PullOutcome.UNAUTHORIZED
    )
    assert catalog.resolve("ghcr.example.io/x/y:1", has_credentials=True) is PullOutcome.OK
    catalog.add("someone/thing:1")
    assert catalog.resolve("someone/thing:1", has_credentials=False) is PullOutcome.OK
    catalog.remove("nginx:1.25")
    assert catalog.resolve("nginx:1.25", has_credentials=False) is PullOutcome.NOT_FOUND
    assert "401 Unauthorized" in pull_error("ghcr.example.io/x/y:1", PullOutcome.UNAUTHORIZED)
