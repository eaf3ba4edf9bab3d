"""kubemedic: the composition root (command line and settings)."""

__version__ = "0.1.0"
