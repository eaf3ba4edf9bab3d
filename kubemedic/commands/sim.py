"""`kubemedic sim`: run kubesim alone and write a kubeconfig for kubectl and the client."""

from __future__ import annotations

import signal
import threading
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

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
    clusters: Annotated[
        int,
        typer.Option(
            "--clusters",
            min=1,
            max=16,
            help="start this many kubesims; one kubeconfig with contexts kubesim-1..N "
            "(scenarios are applied to each)",
        ),
    ] = 1,
) -> None:
    """Start kubesim on 127.0.0.1, apply scenarios, and serve until interrupted."""
    from kubesim import KubeSim, KubeSimError

    console = Console()
    if clusters > 1:
        _fleet(console, kubeconfig, clusters, speed, scenario or [], metrics, kube_version.value)
        return
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


def _fleet(
    console: Console,
    kubeconfig: Path,
    count: int,
    speed: float,
    scenarios: list[Path],
    metrics: bool,
    kube_version: str,
) -> None:
    """N kubesims and one kubeconfig whose contexts kubesim-1..N name them."""
    from kubesim import KubeSim, KubeSimError

    sims = []
    parts = kubeconfig.parent / f".{kubeconfig.name}.d"
    try:
        for index in range(1, count + 1):
            cluster = KubeSim(
                speed=speed,
                port=0,
                kubeconfig_path=parts / f"kubesim-{index}.yaml",
                metrics=metrics,
                kube_version=kube_version,
            )
            cluster.start()
            sims.append(cluster)
            for path in scenarios:
                try:
                    cluster.apply(path.read_text())
                except KubeSimError as exc:
                    console.print(f"[red]{path}: {exc}[/red]")
                    raise typer.Exit(1) from exc
        write_merged_kubeconfig(kubeconfig, [c.kubeconfig_path for c in sims])
        for index, cluster in enumerate(sims, start=1):
            console.print(f"kubesim-{index} listening on [bold]{cluster.url}[/bold]")
        console.print(f"kubeconfig: [bold]{kubeconfig}[/bold] (contexts kubesim-1..{count})")
        contexts = " ".join(f"--context kubesim-{i}" for i in range(1, count + 1))
        console.print(f"  KUBECONFIG={kubeconfig} kubemedic watch {contexts}")
        console.print("Ctrl-C to stop")
        signal.signal(signal.SIGTERM, _interrupt)
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        for cluster in sims:
            cluster.stop()


def write_merged_kubeconfig(path: Path, parts: list[Path | None]) -> Path:
    """One kubeconfig with a cluster, user and context `kubesim-i` per part (current: 1)."""
    import yaml

    merged: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [],
        "users": [],
        "contexts": [],
        "current-context": "kubesim-1",
    }
    for index, part in enumerate(parts, start=1):
        assert part is not None
        one = yaml.safe_load(part.read_text())
        name = f"kubesim-{index}"
        context = dict(one["contexts"][0]["context"], cluster=name, user=name)
        merged["clusters"].append({"name": name, "cluster": one["clusters"][0]["cluster"]})
        merged["users"].append({"name": name, "user": one["users"][0]["user"]})
        merged["contexts"].append({"name": name, "context": context})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(merged, sort_keys=False))
    path.chmod(0o600)
    return path
