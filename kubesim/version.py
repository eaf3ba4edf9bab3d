"""The Kubernetes version kubesim presents (`/version`, discovery, node info, features).

1.28 is the default and what the recordings in `reference/kube-apiserver-1.28/` show. From 1.33
the API serves the `pods/resize` subresource and the kubelet resizes containers in place
(KEP-1287, beta in 1.33, GA in 1.35).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KubeVersion:
    minor: int
    patch: int
    build_date: str
    go_version: str
    git_commit: str = ""

    @property
    def name(self) -> str:
        """`1.33`: what `--kube-version` takes."""
        return f"1.{self.minor}"

    @property
    def git_version(self) -> str:
        return f"v1.{self.minor}.{self.patch}"

    def at_least(self, minor: int) -> bool:
        return self.minor >= minor

    @property
    def in_place_resize(self) -> bool:
        """`pods/resize` and the kubelet's in-place resize (InPlacePodVerticalScaling on)."""
        return self.minor >= 33

    @property
    def memory_limit_decrease(self) -> bool:
        """From 1.34 a memory limit may shrink without a restart (the kubelet checks usage)."""
        return self.minor >= 34

    def document(self) -> dict[str, Any]:
        """The `/version` body."""
        commit = (
            self.git_commit or hashlib.sha1(self.git_version.encode()).hexdigest()  # noqa: S324
        )
        return {
            "major": "1",
            "minor": str(self.minor),
            "gitVersion": self.git_version,
            "gitCommit": commit,
            "gitTreeState": "clean",
            "buildDate": self.build_date,
            "goVersion": self.go_version,
            "compiler": "gc",
            "platform": "linux/amd64",
        }


VERSIONS: dict[str, KubeVersion] = {
    "1.28": KubeVersion(
        28, 7, "2024-02-14T10:32:40Z", "go1.21.7", "c8dcb00be9961ec36d141d2e4103f85f92bcf291"
    ),
    "1.33": KubeVersion(33, 0, "2025-04-23T13:00:17Z", "go1.24.2"),
    "1.35": KubeVersion(35, 0, "2025-12-17T12:32:06Z", "go1.25.5"),
}
DEFAULT = VERSIONS["1.28"]


def kube_version(value: str | KubeVersion | None) -> KubeVersion:
    """`1.33`, `v1.33` or `1.33.0` (the patch is kubesim's own) as a served version."""
    if value is None:
        return DEFAULT
    if isinstance(value, KubeVersion):
        return value
    text = value.strip().lstrip("v")
    key = ".".join(text.split(".")[:2])
    if key not in VERSIONS:
        raise ValueError(f"kubesim serves Kubernetes {', '.join(VERSIONS)}; not {value!r}")
    return VERSIONS[key]
