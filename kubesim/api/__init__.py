"""kubesim's HTTP API: a Kubernetes REST API over the store (see app.py for the routes)."""

from kubesim.api.app import ApiState, KubeApi
from kubesim.api.faults import Faults
from kubesim.api.requestlog import RequestRecord

__all__ = ["ApiState", "Faults", "KubeApi", "RequestRecord"]
