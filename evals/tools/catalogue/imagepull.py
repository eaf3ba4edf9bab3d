# ruff: noqa: E501  (log lines and kubelet messages are data, kept verbatim)
"""Image pulls that fail: typos in a rollout, private registries, unauthorized,
network timeouts, invalid names, unknown tags."""

from __future__ import annotations

from typing import Any

from evals.tools.builders import (
    Container,
    Revision,
    State,
    deployment,
    event,
    pod,
)
from evals.tools.catalogue.common import (
    ScenarioFn,
    assemble,
    collector,
    hand_over,
)
from evals.tools.kit import (
    NODES,
    Built,
    healthy_pods,
    metrics_for,
    scheduled_event,
    standard_nodes,
    workload_objects,
)

SCENARIOS: list[ScenarioFn] = []
scenario = collector(SCENARIOS)


def _pull_rollout(
    name: str, ns: str, old_image: str, new_image: str, err: str, desc: str, tag: str
) -> dict[str, Any]:
    old = Container("app", old_image)
    new = Container("app", new_image)
    w = deployment(
        ns,
        name,
        [Revision(1, [old], 3, 3, 86400 * 9), Revision(2, [new], 1, 0, 700)],
        3,
        max_unavailable="0",
    )
    old_pods = healthy_pods(ns, w, 1, 3, old)
    target_name = w.pod_name(2, 0)
    target = pod(
        ns,
        target_name,
        [new],
        [
            State(
                "waiting",
                reason="ImagePullBackOff",
                message=f'Back-off pulling image "{new_image}"',
            )
        ],
        owner=w.rs_for(2),
        labels=w.labels(2),
        node_name=NODES[1],
        created_ago=690,
    )
    fp = "spec.containers{app}"
    events = [
        scheduled_event(ns, target, NODES[1], 690),
        event(
            ns,
            target,
            "Pulling",
            f'Pulling image "{new_image}"',
            kind="Normal",
            count=8,
            first_ago=689,
            last_ago=60,
            host=NODES[1],
            field_path=fp,
        ),
        event(
            ns,
            target,
            "Failed",
            f'Failed to pull image "{new_image}": {err}',
            count=8,
            first_ago=688,
            last_ago=59,
            host=NODES[1],
            field_path=fp,
        ),
        event(
            ns,
            target,
            "Failed",
            "Error: ErrImagePull",
            count=8,
            first_ago=688,
            last_ago=59,
            host=NODES[1],
            field_path=fp,
        ),
        event(
            ns,
            target,
            "BackOff",
            f'Back-off pulling image "{new_image}"',
            kind="Normal",
            count=31,
            first_ago=687,
            last_ago=12,
            host=NODES[1],
            field_path=fp,
        ),
        event(
            ns,
            target,
            "Failed",
            "Error: ImagePullBackOff",
            count=31,
            first_ago=687,
            last_ago=12,
            host=NODES[1],
            field_path=fp,
        ),
    ]
    objects = workload_objects(ns, w, target, *old_pods, *events)
    built = Built(objects, ns, target_name, [], metrics_for(ns, old_pods))
    return assemble(
        f"imagepull-{tag}",
        ["imagepull", "rollout"],
        desc,
        built,
        {
            "issues": ["ImagePullBackOff"],
            "action": ["rollback_deployment", "check_image_availability"],
            "writes": ["rollback_deployment"],
            "forbidden": ["delete_pod", "scale_down_deployment", "increase_memory_limit"],
            "outcome": "healed",
        },
        behaviour={"after_rollback": "healthy"},
    )


def _not_found(image: str) -> str:
    ref = (
        image
        if "/" in image.split(":")[0] and "." in image.split("/")[0]
        else f"docker.io/library/{image}"
    )
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": failed to '
        f'resolve reference "{ref}": {ref}: not found'
    )


@scenario
def imagepull_typo_rollout() -> dict[str, Any]:
    return _pull_rollout(
        "frontend",
        "web",
        "nginx:1.25.3",
        "ngnix:1.25.4",
        "rpc error: code = Unknown desc = failed to pull and unpack image "
        '"docker.io/library/ngnix:1.25.4": failed to resolve reference '
        '"docker.io/library/ngnix:1.25.4": pull access denied, repository does not exist or may '
        "require authorization: server message: insufficient_scope: authorization failed",
        """The latest rollout misspelled the image (ngnix). The rollout is stuck with one new pod in
        ImagePullBackOff; the previous revision's three pods still serve. Roll back.""",
        "typo-in-rollout",
    )


@scenario
def imagepull_tag_typo_rollout() -> dict[str, Any]:
    new = "registry.example.com/shop/api:v2.31.0"
    return _pull_rollout(
        "api",
        "shop",
        "registry.example.com/shop/api:v2.3.0",
        new,
        _not_found(new),
        """The latest rollout asks for tag v2.31.0 instead of v2.3.1; the registry answers not
        found. The previous revision is healthy: roll back.""",
        "tag-typo-in-rollout",
    )


@scenario
def imagepull_private_after_rollout() -> dict[str, Any]:
    new = "ghcr.io/example-corp/notifier:3.0.0"
    return _pull_rollout(
        "notifier",
        "messaging",
        "registry.example.com/messaging/notifier:2.9.1",
        new,
        f'rpc error: code = Unknown desc = failed to pull and unpack image "{new}": failed to resolve '
        f'reference "{new}": failed to authorize: failed to fetch anonymous token: unexpected '
        "status from GET request to https://ghcr.io/token?scope=repository%3Aexample-corp%2F"
        "notifier%3Apull&service=ghcr.io: 401 Unauthorized",
        """The latest rollout moved the image to a private registry without an imagePullSecret.
        The previous revision pulled from the internal registry and is healthy: roll back.""",
        "private-registry-in-rollout",
    )


def _pull_steady(
    name: str,
    ns: str,
    image: str,
    err: str,
    desc: str,
    tag: str,
    issue: str = "ImagePullBackOff",
    reason: str = "ImagePullBackOff",
) -> dict[str, Any]:
    c = Container("app", image)
    w = deployment(ns, name, [Revision(1, [c], 2, 0, 1800)], 2, created_ago=1800)
    pods_ = []
    events = []
    for i in range(2):
        msg = f'Back-off pulling image "{image}"' if reason == "ImagePullBackOff" else err
        p = pod(
            ns,
            w.pod_name(1, i),
            [c],
            [State("waiting", reason=reason, message=msg)],
            owner=w.rs_for(1),
            labels=w.labels(1),
            node_name=NODES[i],
            created_ago=1790,
        )
        pods_.append(p)
        fp = "spec.containers{app}"
        events += [
            event(
                ns,
                p,
                "Pulling",
                f'Pulling image "{image}"',
                kind="Normal",
                count=12,
                first_ago=1789,
                last_ago=90,
                host=NODES[i],
                field_path=fp,
            ),
            event(
                ns,
                p,
                "Failed",
                f'Failed to pull image "{image}": {err}',
                count=12,
                first_ago=1788,
                last_ago=89,
                host=NODES[i],
                field_path=fp,
            ),
            event(
                ns,
                p,
                "BackOff",
                f'Back-off pulling image "{image}"',
                kind="Normal",
                count=40,
                first_ago=1787,
                last_ago=10,
                host=NODES[i],
                field_path=fp,
            ),
        ]
    objects = workload_objects(ns, w, *pods_, *events)
    built = Built(objects, ns, pods_[0]["metadata"]["name"])
    return assemble(
        f"imagepull-{tag}",
        ["imagepull", tag],
        desc,
        built,
        hand_over(issue, ["check_image_availability", "investigate_manually"]),
    )


@scenario
def imagepull_unauthorized() -> dict[str, Any]:
    image = "registry.example.com/risk/scorer:1.2.0"
    return _pull_steady(
        "scorer",
        "risk",
        image,
        f'rpc error: code = Unknown desc = failed to pull and unpack image "{image}": failed to '
        f'resolve reference "{image}": unexpected status from HEAD request to '
        "https://registry.example.com/v2/risk/scorer/manifests/1.2.0: 401 Unauthorized",
        """A new service in a new namespace pulls from the private registry without an
        imagePullSecret. There is no earlier revision; only a human can add credentials.""",
        "unauthorized",
    )


@scenario
def imagepull_network_timeout() -> dict[str, Any]:
    image = "quay.io/prometheus/node-exporter:v1.7.0"
    return _pull_steady(
        "node-exporter",
        "monitoring",
        image,
        f'rpc error: code = Unknown desc = failed to pull and unpack image "{image}": failed to '
        'resolve reference "quay.io/prometheus/node-exporter:v1.7.0": failed to do request: Head '
        '"https://quay.io/v2/prometheus/node-exporter/manifests/v1.7.0": dial tcp 3.216.152.103:443: '
        "i/o timeout",
        """The nodes cannot reach quay.io (egress firewall change). Nothing in the cluster fixes
        that; report the network class of the failure.""",
        "network-timeout",
    )


@scenario
def imagepull_invalid_name() -> dict[str, Any]:
    image = "Registry.example.com/Shop/Search:2.0"
    return _pull_steady(
        "search-ui",
        "shop",
        image,
        f'couldn\'t parse image reference "{image}": invalid reference format: repository name '
        "must be lowercase",
        """A hand-edited manifest used capital letters in the image reference; the kubelet cannot
        parse it (InvalidImageName).""",
        "invalid-name",
        issue="InvalidImageName",
        reason="InvalidImageName",
    )


@scenario
def imagepull_unknown_tag_bare_pod() -> dict[str, Any]:
    ns = "default"
    image = "redis:7.9.99"
    c = Container("redis", image, port=6379)
    p = pod(
        ns,
        "redis-debug",
        [c],
        [State("waiting", reason="ImagePullBackOff", message=f'Back-off pulling image "{image}"')],
        node_name=NODES[1],
        created_ago=600,
    )
    fp = "spec.containers{redis}"
    events = [
        event(
            ns,
            p,
            "Pulling",
            f'Pulling image "{image}"',
            kind="Normal",
            count=6,
            first_ago=599,
            last_ago=100,
            host=NODES[1],
            field_path=fp,
        ),
        event(
            ns,
            p,
            "Failed",
            f'Failed to pull image "{image}": {_not_found(image)}',
            count=6,
            first_ago=598,
            last_ago=99,
            host=NODES[1],
            field_path=fp,
        ),
        event(
            ns,
            p,
            "BackOff",
            f'Back-off pulling image "{image}"',
            kind="Normal",
            count=25,
            first_ago=597,
            last_ago=7,
            host=NODES[1],
            field_path=fp,
        ),
    ]
    built = Built([*standard_nodes(), p, *events], ns, "redis-debug")
    return assemble(
        "imagepull-unknown-tag-bare-pod",
        ["imagepull", "bare-pod"],
        """Someone started a debugging pod with a Redis tag that does not exist. A bare pod: report
        the missing tag, never delete it.""",
        built,
        hand_over("ImagePullBackOff", "check_image_availability"),
    )
