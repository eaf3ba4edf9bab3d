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


@app.command()
def version() -> None:
    """Print the kubemedic version."""
    from kubemedic import __version__

    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
