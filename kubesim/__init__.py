"""kubesim: a simulated Kubernetes cluster that speaks the real REST API (see docs/contracts.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubesim.api.requestlog import RequestRecord
    from kubesim.sim import KubeSim, KubeSimError

__all__ = ["KubeSim", "KubeSimError", "RequestRecord"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import kubesim.store` (controllers, unit tests) does not pull in the HTTP stack.
    if name in ("KubeSim", "KubeSimError"):
        from kubesim import sim

        return getattr(sim, name)
    if name == "RequestRecord":
        from kubesim.api.requestlog import RequestRecord

        return RequestRecord
    raise AttributeError(name)
