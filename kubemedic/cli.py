"""The `kubemedic` command line: one sub-command module per mode, composed here."""

from __future__ import annotations

import typer

from kubemedic.commands import register_all

app = typer.Typer(
    name="kubemedic",
    help="A self-healing agent for Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
register_all(app)


@app.callback()
def _root() -> None:
    """A self-healing agent for Kubernetes."""
    from kubemedic.logging_setup import configure_logging
    from kubemedic.settings import load_settings

    settings = load_settings()
    # JSON lines on stderr (rich text at a terminal), for every mode; stdout stays for output.
    configure_logging(settings.log_format, settings.log_level)


@app.command()
def version() -> None:
    """Print the kubemedic version."""
    from kubemedic import __version__

    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
