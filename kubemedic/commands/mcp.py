"""`kubemedic mcp`: serve the MCP tools over stdio (default) or streamable HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def _load_tokens(path: Path | None) -> tuple[Any, ...]:
    """A YAML list of `{caller, token, scopes}` (see `kubemedic.tokens`)."""
    from kubemedic.tokens import TokenFileError, load_tokens

    try:
        return load_tokens(path)
    except TokenFileError as error:
        raise typer.BadParameter(error.message) from None


def serve(
    http: Annotated[bool, typer.Option("--http", help="serve streamable HTTP on /mcp")] = False,
    host: Annotated[str, typer.Option(help="HTTP listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port")] = 8080,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="kubeconfig; default: settings, KUBECONFIG, in-cluster, ~/.kube/config"),
    ] = None,
    context: Annotated[
        list[str] | None,
        typer.Option(
            "--context",
            metavar="CTX",
            help="kubeconfig context (default: current); repeat it to serve several clusters",
        ),
    ] = None,
    clusters: Annotated[
        Path | None,
        typer.Option(
            "--clusters",
            help="YAML list of {name, context, kubeconfig?, policy?}: several clusters",
        ),
    ] = None,
    policy: Annotated[Path | None, typer.Option(help="policy YAML")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="audit, approvals, rate limits")] = None,
    tokens: Annotated[
        Path | None, typer.Option("--tokens", help="YAML list of {caller, token, scopes}")
    ] = None,
    trust: Annotated[
        list[str] | None, typer.Option("--trust", help="a caller allowed to use force")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="no watch-backed pod cache")] = False,
    metrics_auth: Annotated[
        str,
        typer.Option(
            "--metrics-auth",
            help="/metrics with --http: 'required' (a token with the metrics scope) or 'open'",
        ),
    ] = "required",
) -> None:
    """Serve kubemedic's MCP tools (stdio by default, --http for streamable HTTP); with
    several clusters every tool takes a `cluster` argument."""
    from kubemedic.clusters import ClustersError, build_fleet, clusters_of
    from kubemedic.settings import load_settings
    from mcp_server.config import ServerConfig
    from mcp_server.gateway import ConfigurationError
    from mcp_server.state import build_state

    settings = load_settings()  # logging is configured by the CLI root (stderr: stdout is MCP's)
    if metrics_auth not in ("required", "open"):
        raise typer.BadParameter("'required' or 'open'", param_hint="--metrics-auth")
    contexts = tuple(context or ())
    try:
        specs = clusters_of(
            contexts or settings.contexts,
            clusters or settings.clusters_file,
            kubeconfig or settings.kubeconfig,
        )
    except ClustersError as error:
        typer.echo(f"kubemedic mcp: {error}", err=True)
        raise typer.Exit(2) from None
    config = ServerConfig(
        kubeconfig=kubeconfig or settings.kubeconfig,
        context=contexts[0] if len(contexts) == 1 else settings.context,
        metrics_auth=metrics_auth,  # type: ignore[arg-type]  # checked above
        policy_path=policy or settings.policy,
        state_dir=state_dir or settings.state_dir,
        database_url=settings.database_secret(),
        trusted_callers=frozenset(trust or ()),
        local_caller=settings.caller,
        agent_namespace=settings.namespace,
        tokens=_load_tokens(tokens),
        pod_cache=not no_cache,
        usage_sample_seconds=settings.usage_sample_seconds,
    )
    if http and not config.tokens:
        typer.echo(
            "kubemedic mcp: --http needs bearer tokens (--tokens FILE): an open HTTP endpoint "
            "to the cluster is refused",
            err=True,
        )
        raise typer.Exit(2)
    try:
        state = build_fleet(specs, config) or build_state(config)
    except ConfigurationError as error:
        typer.echo(f"kubemedic mcp: {error.message}", err=True)
        raise typer.Exit(2) from None
    try:
        if http:
            import uvicorn

            from mcp_server.http_app import create_http_app

            app = create_http_app(state, host=host, port=port)
            typer.echo(f"kubemedic MCP on http://{host}:{port}/mcp", err=True)
            uvicorn.run(app, host=host, port=port, log_level="warning")
        else:
            from mcp_server.server import create_server

            create_server(state).run("stdio")
    finally:
        state.close()


def register(app: typer.Typer) -> None:
    app.command("mcp")(serve)
