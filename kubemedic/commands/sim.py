"""`kubemedic sim`: run kubesim alone and write a kubeconfig for kubectl and the client."""

from __future__ import annotations

import signal
import threading
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console


class KubeVersionChoice(StrEnum):
    v1_28 = "1.28"
    v1_33 = "1.33"
    v1_35 = "1.35"


def register(app: typer.Typer) -> None:
    app.command(name="sim")(sim)


def sim(
    kubeconfig: Annotated[Path, typer.Option("--kubeconfig", help="where to write the kubeconfig")],
    port: Annotated[int, typer.Option("--port", help="port on 127.0.0.1; 0 picks a free one")] = 0,
    speed: Annotated[
        float,
        typer.Option("--speed", min=0.0, help="simulated seconds per wall second (0: frozen)"),
    ] = 1.0,
    scenario: Annotated[
        list[Path] | None,
        typer.Option(
            "--scenario", exists=True, dir_okay=False, help="YAML manifests to apply (repeatable)"
        ),
    ] = None,
    metrics: Annotated[
        bool, typer.Option("--metrics/--no-metrics", help="serve metrics.k8s.io")
    ] = True,
    kube_version: Annotated[
        KubeVersionChoice,
        typer.Option(
            "--kube-version",
            help="the Kubernetes version served (from 1.33: pods/resize, in-place resize)",
        ),
    ] = KubeVersionChoice.v1_28,
) -> None:
    """Start kubesim on 127.0.0.1, apply scenarios, and serve until interrupted."""
    from kubesim import KubeSim, KubeSimError

    console = Console()
    cluster = KubeSim(
        speed=speed,
        port=port,
        kubeconfig_path=kubeconfig,
        metrics=metrics,
        kube_version=kube_version.value,
    )
    try:
        cluster.start()
    except OSError as exc:
        console.print(f"[red]cannot listen on 127.0.0.1:{port}: {exc}[/red]")
        raise typer.Exit(1) from exc
    try:
        for path in scenario or []:
            try:
                applied = cluster.apply(path.read_text())
            except KubeSimError as exc:
                console.print(f"[red]{path}: {exc}[/red]")
                raise typer.Exit(1) from exc
            names = ", ".join(f"{o['kind'].lower()}/{o['metadata']['name']}" for o in applied)
            console.print(f"applied [bold]{path}[/bold]: {names}")
        console.print(
            f"kubesim listening on [bold]{cluster.url}[/bold] "
            f"(Kubernetes {cluster.kube_version.git_version}, speed {speed:g})"
        )
        console.print(f"kubeconfig: [bold]{cluster.kubeconfig_path}[/bold]")
        console.print(f"  kubectl --kubeconfig {cluster.kubeconfig_path} get pods -A")
        console.print("Ctrl-C to stop")
        signal.signal(signal.SIGTERM, _interrupt)
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        cluster.stop()


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops as cleanly as Ctrl-C
