"""Which images exist, as the registries a real cluster pulls from would answer.

Every reference is normalised the way containerd does (`nginx` -> `docker.io/library/nginx:latest`).
A pull resolves to one of: it exists; the tag (or repository) is unknown; the registry wants
credentials the pod does not carry. The catalog knows the common public images and their tags;
anything else on a private registry exists when the pod has an imagePullSecret (we cannot know
better), and a test or a recorded scenario can add or remove images at will.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from enum import Enum

PUBLIC_REGISTRIES = frozenset(
    {
        "docker.io",
        "registry.k8s.io",
        "k8s.gcr.io",
        "gcr.io",
        "quay.io",
        "ghcr.io",
        "public.ecr.aws",
        "mcr.microsoft.com",
    }
)


class PullOutcome(Enum):
    OK = "ok"
    NOT_FOUND = "not-found"  # the registry answers, the tag does not exist
    NO_REPOSITORY = "no-repository"  # Docker Hub: pull access denied / does not exist
    UNAUTHORIZED = "unauthorized"  # private registry without (valid) credentials


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str  # e.g. library/nginx
    tag: str
    digest: str = ""

    @property
    def full(self) -> str:
        if self.digest:
            return f"{self.registry}/{self.repository}@{self.digest}"
        return f"{self.registry}/{self.repository}:{self.tag}"

    @property
    def short_repo(self) -> str:
        """The repository as users write it (nginx, polinux/stress, registry.k8s.io/pause)."""
        if self.registry == "docker.io":
            return self.repository.removeprefix("library/")
        return f"{self.registry}/{self.repository}"


def parse_image(image: str) -> ImageRef:
    """Split an image reference the way the container runtime normalises it."""
    rest = image.strip()
    digest = ""
    if "@" in rest:
        rest, digest = rest.split("@", 1)
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = "docker.io", rest
    tag = "latest"
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
    if registry == "docker.io" and "/" not in path:
        path = f"library/{path}"
    return ImageRef(registry, path, tag, digest)


def image_digest(ref: ImageRef) -> str:
    """A stable, plausible sha256 digest for an image (what imageID reports)."""
    return (
        "sha256:"
        + hashlib.sha256(f"{ref.registry}/{ref.repository}:{ref.tag}".encode()).hexdigest()
    )


def image_id(image: str) -> str:
    ref = parse_image(image)
    return f"{ref.registry}/{ref.repository}@{ref.digest or image_digest(ref)}"


def _versions(prefix: str, majors: range, minors: range, patches: range = range(0)) -> set[str]:
    tags: set[str] = set()
    for major in majors:
        tags.add(f"{prefix}{major}")
        for minor in minors:
            tags.add(f"{prefix}{major}.{minor}")
            for patch in patches:
                tags.add(f"{prefix}{major}.{minor}.{patch}")
    return tags


def _with_variants(tags: set[str], variants: tuple[str, ...]) -> set[str]:
    return tags | {f"{t}-{v}" for t in tags for v in variants} | set(variants)


def _default_tags() -> dict[str, set[str]]:
    nginx = {f"1.{m}" for m in range(9, 28)} | {
        f"1.{m}.{p}" for m in range(9, 28) for p in range(0, 6)
    }
    nginx |= {"1", "stable", "mainline", "latest"}
    return {
        "docker.io/library/nginx": _with_variants(nginx, ("alpine", "perl", "alpine-slim")),
        "docker.io/library/busybox": {
            "latest",
            "1",
            "1.28",
            "1.31",
            "1.32",
            "1.33",
            "1.34",
            "1.35",
            "1.36",
            "1.36.1",
            "1.37",
            "stable",
            "musl",
            "glibc",
            "uclibc",
        },
        "docker.io/polinux/stress": {"latest", "1.0.4"},
        "docker.io/library/redis": _with_variants(
            _versions("", range(5, 8), range(0, 5), range(0, 16)) | {"latest"}, ("alpine",)
        ),
        "docker.io/library/postgres": _with_variants(
            _versions("", range(11, 17), range(0, 12)) | {"latest"}, ("alpine",)
        ),
        "docker.io/library/python": _with_variants(
            _versions("", range(3, 4), range(7, 14), range(0, 12)) | {"latest"}, ("slim", "alpine")
        ),
        "docker.io/library/alpine": _versions("", range(3, 4), range(12, 21), range(0, 6))
        | {"latest", "edge"},
        "docker.io/library/ubuntu": {
            "latest",
            "20.04",
            "22.04",
            "24.04",
            "focal",
            "jammy",
            "noble",
        },
        "docker.io/library/debian": {
            "latest",
            "11",
            "12",
            "bullseye",
            "bookworm",
            "bookworm-slim",
            "bullseye-slim",
            "stable-slim",
        },
        "docker.io/library/httpd": _with_variants({"latest", "2", "2.4"}, ("alpine",)),
        "docker.io/library/memcached": _with_variants({"latest", "1", "1.6"}, ("alpine",)),
        "docker.io/library/node": _with_variants(
            _versions("", range(16, 23), range(0, 3)) | {"latest", "lts"}, ("alpine", "slim")
        ),
        "docker.io/library/mysql": {"latest", "5.7", "8", "8.0", "8.4"},
        "docker.io/library/perl": _with_variants(
            {"latest", "5", "5.34", "5.36", "5.38", "5.40", "5.34.0", "5.36.0"}, ("slim",)
        ),
        "docker.io/curlimages/curl": {"latest", "8.4.0", "8.5.0", "8.10.1"},
        # the Kubernetes docs' probe examples (liveness exec)
        "registry.k8s.io/busybox": {"latest", "1.24", "1.27", "1.27.2", "1.28"},
        "registry.k8s.io/pause": {"3.6", "3.7", "3.8", "3.9", "3.10", "latest"},
        "registry.k8s.io/e2e-test-images/agnhost": {"2.39", "2.40", "2.43", "2.45", "2.47", "2.52"},
        "gcr.io/google-samples/hello-app": {"1.0", "2.0"},
        "docker.io/kennethreitz/httpbin": {"latest"},
    }


@dataclass
class ImageCatalog:
    """The images the simulated registries hold; thread-safe, mutable by tests and scenarios."""

    tags: dict[str, set[str]] = field(default_factory=_default_tags)
    missing: set[str] = field(default_factory=set)  # full references known not to exist
    private_registries: set[str] = field(default_factory=set)  # extra hosts needing credentials
    anonymous: set[str] = field(default_factory=set)  # repositories added as pullable without them
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, image: str, *, needs_credentials: bool = False) -> None:
        """Make an image pullable (e.g. a recorded scenario's own application image)."""
        ref = parse_image(image)
        repo = f"{ref.registry}/{ref.repository}"
        with self._lock:
            self.tags.setdefault(repo, set()).add(ref.tag)
            self.missing.discard(ref.full)
            if not needs_credentials:
                self.anonymous.add(repo)

    def remove(self, image: str) -> None:
        """Make an image unpullable (its tag was deleted from the registry)."""
        ref = parse_image(image)
        with self._lock:
            self.missing.add(ref.full)
            repo_tags = self.tags.get(f"{ref.registry}/{ref.repository}")
            if repo_tags is not None:
                repo_tags.discard(ref.tag)

    def knows(self, image: str) -> bool:
        ref = parse_image(image)
        with self._lock:
            return ref.tag in self.tags.get(f"{ref.registry}/{ref.repository}", set())

    def resolve(self, image: str, *, has_credentials: bool) -> PullOutcome:
        """What a pull of `image` would answer for a pod with or without pull credentials."""
        ref = parse_image(image)
        repo = f"{ref.registry}/{ref.repository}"
        with self._lock:
            if ref.full in self.missing:
                return PullOutcome.NOT_FOUND
            known_tags = self.tags.get(repo)
            private = (
                ref.registry in self.private_registries or ref.registry not in PUBLIC_REGISTRIES
            ) and repo not in self.anonymous
        if private and not has_credentials:
            return PullOutcome.UNAUTHORIZED
        if known_tags is not None:
            if ref.digest or ref.tag in known_tags:
                return PullOutcome.OK
            return PullOutcome.NOT_FOUND
        if private or has_credentials:
            # A registry we know nothing about, reached with credentials: assume the image is there.
            return PullOutcome.OK
        if ref.registry == "docker.io":
            return PullOutcome.NO_REPOSITORY
        return PullOutcome.NOT_FOUND

    def pull_seconds(self, image: str) -> float:
        """How long a first pull takes (bigger images take longer)."""
        ref = parse_image(image)
        sizes = {
            "library/busybox": 1.5,
            "library/alpine": 1.5,
            "polinux/stress": 2.5,
            "library/nginx": 4.0,
            "library/redis": 4.5,
            "library/httpd": 4.0,
            "library/memcached": 3.0,
            "library/postgres": 9.0,
            "library/mysql": 12.0,
            "library/python": 8.0,
            "library/node": 10.0,
            "pause": 0.8,
        }
        return sizes.get(ref.repository, 3.0)


def pull_error(image: str, outcome: PullOutcome) -> str:
    """The error containerd 1.7 returns through the CRI, as the kubelet quotes it."""
    ref = parse_image(image)
    full = ref.full
    if outcome is PullOutcome.NOT_FOUND:
        return (
            f'rpc error: code = NotFound desc = failed to pull and unpack image "{full}": '
            f'failed to resolve reference "{full}": {full}: not found'
        )
    if outcome is PullOutcome.NO_REPOSITORY:
        return (
            f'rpc error: code = Unknown desc = failed to pull and unpack image "{full}": '
            f'failed to resolve reference "{full}": pull access denied, repository does not exist '
            "or may require authorization: server message: insufficient_scope: authorization failed"
        )
    if outcome is PullOutcome.UNAUTHORIZED:
        scope = ref.repository.replace("/", "%2F")
        return (
            f'rpc error: code = Unknown desc = failed to pull and unpack image "{full}": '
            f'failed to resolve reference "{full}": failed to authorize: failed to fetch anonymous '
            f"token: unexpected status from GET request to https://{ref.registry}/token?"
            f"scope=repository%3A{scope}%3Apull&service={ref.registry}: 401 Unauthorized"
        )
    raise ValueError(f"not a pull error: {outcome}")


# distribution/reference grammar (the parts that matter for telling good from bad references).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
_LABEL = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$"
)


def reference_error(image: str) -> str | None:
    """The kubelet's error for an image reference that cannot be parsed (InvalidImageName)."""
    if image and _REFERENCE.match(image):
        return None
    reason = "invalid reference format"
    if image and _REFERENCE.match(image.lower()):
        reason += ": repository name must be lowercase"
    return f'couldn\'t parse image reference "{image}": {reason}'
