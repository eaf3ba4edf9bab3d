"""`kubemedic inbox`: serve the web inbox where on-call people approve destructive actions."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any

import typer


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    port: Annotated[int, typer.Option(help="HTTP port")] = 8090,
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    tokens: Annotated[
        Path | None,
        typer.Option("--tokens", help="YAML list of {caller, token, scopes}, as for `mcp --http`"),
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="state directory (default: settings)")
    ] = None,
    trusted_user_header: Annotated[
        str | None,
        typer.Option(
            "--trusted-user-header",
            help="a header an authenticating proxy sets, e.g. X-Forwarded-User (that user "
            "may approve); only when every request comes through that proxy",
        ),
    ] = None,
) -> None:
    """Serve the approvals inbox (a web page; approve with a token that has scope approve)."""
    import uvicorn

    from kubemedic.inbox import InboxConfig, build_app
    from kubemedic.settings import load_settings
    from kubemedic.tokens import TokenFileError, load_tokens

    settings = load_settings()
    if state_dir is not None:
        settings = settings.model_copy(update={"state_dir": state_dir})
    try:
        loaded = load_tokens(tokens)
    except TokenFileError as error:
        typer.echo(f"kubemedic inbox: {error.message}", err=True)
        raise typer.Exit(2) from None
    header = (trusted_user_header or "").strip() or None
    extra_routes = _slack_routes(settings)
    if not loaded and header is None and not extra_routes:
        typer.echo(
            "kubemedic inbox: nobody could sign in: give --tokens FILE (scope approve to "
            "decide) or --trusted-user-header NAME behind an authenticating proxy",
            err=True,
        )
        raise typer.Exit(2)
    if header is not None and not _loopback(host):
        typer.echo(
            f"kubemedic inbox: {header} is trusted: make sure only the proxy can reach "
            f"{host}:{port} (a network policy), or anyone can claim any name",
            err=True,
        )
    config = InboxConfig(tokens=loaded, trusted_user_header=header)
    app = build_app(settings, config, extra_routes=extra_routes)
    typer.echo(f"kubemedic inbox on http://{host}:{port}/", err=True)
    if extra_routes:
        typer.echo(f"Slack interactions at http://{host}:{port}/slack/interactions", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True)


def _slack_routes(settings: Any) -> list[Any]:
    """Slack's interactions endpoint, when a signing secret is configured (KUBEMEDIC_SLACK_*)."""
    from kubemedic.slack import SlackSettings, slack_routes
    from kubemedic.slack.settings import SlackSettingsError

    try:
        slack = SlackSettings()
        if not slack.secret():
            return []
        return slack_routes(settings, slack)
    except SlackSettingsError as error:
        typer.echo(f"kubemedic inbox: Slack: {error}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    app.command("inbox")(serve)
