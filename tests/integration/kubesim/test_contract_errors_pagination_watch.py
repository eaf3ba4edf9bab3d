# mypy: disable-error-code="union-attr,arg-type,index,no-untyped-call,attr-defined,misc"
"""Contract tests for the 1.28 recordings' additions (reference README, "Additions"): error
bodies, pagination, watch bookmarks and the in-stream 410, each compared with its recorded file.

Where the recorded body holds a cluster-specific value (a uid, a resourceVersion, a node
address), kubesim's own value is put in its place and the rest must be equal byte for byte.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from kubesim import KubeSim
from kubesim.store import NODES, PODS
from tests.integration.kubesim.conftest import REFERENCE, Kubectl

RESPONSES = REFERENCE / "responses"
PODS_PATH = "/api/v1/namespaces/default/pods"

MIXED_OK: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "mixed-ok", "namespace": "default", "labels": {"app": "mixed"}},
    "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
}


def _ref(name: str) -> Any:
    return json.loads((RESPONSES / name).read_text())


def _http_ref(name: str) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of a recorded `.http` file."""
    head, _, body = (RESPONSES / name).read_text().partition("\n\n")
    lines = head.splitlines()
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return status, headers, body


@pytest.fixture
def http(sim: KubeSim) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sim.url, verify=False, headers={"Authorization": f"Bearer {sim.token}"}, timeout=30
    ) as c:
        yield c


@pytest.fixture
def running(sim: KubeSim) -> dict[str, Any]:
    """mixed-ok running on kubesim-node-1, whose InternalIP is 127.0.0.1 like the recording's."""

    def loopback(node: dict[str, Any]) -> None:
        for address in node["status"]["addresses"]:
            if address["type"] == "InternalIP":
                address["address"] = "127.0.0.1"

    sim.store.mutate(NODES, "", "kubesim-node-1", loopback)
    pod = json.loads(json.dumps(MIXED_OK))
    pod["spec"]["nodeName"] = "kubesim-node-1"
    sim.apply(pod)
    sim.advance(10)
    return sim.store.get(PODS, "default", "mixed-ok")


# -- 1. error bodies -----------------------------------------------------------------------
def test_log_read_with_the_kubelet_unreachable_is_the_recorded_500(
    sim: KubeSim, http: httpx.Client, running: dict[str, Any]
) -> None:
    assert http.get(f"{PODS_PATH}/mixed-ok/log").status_code == 200
    sim.set_kubelet_reachable("kubesim-node-1", False)
    response = http.get(f"{PODS_PATH}/mixed-ok/log")
    status, headers, body = _http_ref("log-scheduled-pod-no-kubelet.http")
    assert response.status_code == status == 500
    assert response.headers["content-type"] == headers["content-type"]
    assert response.json() == json.loads(body) == _ref("error-500-log-no-kubelet.json")
    assert "reason" not in response.json() and "details" not in response.json()
    # The kubelet URL carries the log options, sorted, as LogLocation encodes them.
    options = http.get(f"{PODS_PATH}/mixed-ok/log", params={"tailLines": "5", "previous": "true"})
    assert options.json()["message"].startswith(
        'Get "https://127.0.0.1:10250/containerLogs/default/mixed-ok/app?previous=true&tailLines=5"'
    )
    sim.set_kubelet_reachable("kubesim-node-1", True)
    assert http.get(f"{PODS_PATH}/mixed-ok/log").status_code == 200


def test_unreachable_kubelet_by_annotation_through_kubectl_and_the_client(
    sim: KubeSim, running: dict[str, Any], kubectl: Kubectl, core: client.CoreV1Api
) -> None:
    kubectl("annotate", "node", "kubesim-node-1", "kubesim.io/kubelet-unreachable=true")
    result = kubectl("logs", "mixed-ok", check=False)
    assert result.returncode == 1
    assert "dial tcp 127.0.0.1:10250: connect: connection refused" in result.stderr
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log("mixed-ok", "default")
    assert caught.value.status == 500
    # Another node's pods are not affected; an unscheduled pod still answers 204.
    kubectl("annotate", "node", "kubesim-node-1", "kubesim.io/kubelet-unreachable-")
    assert core.read_namespaced_pod_log("mixed-ok", "default")


def test_event_namespace_mismatch_is_the_recorded_422(http: httpx.Client) -> None:
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "mismatch.1"},
        "involvedObject": {"kind": "Pod", "name": "mixed-ok", "namespace": "shop"},
        "reason": "Test",
        "message": "namespace mismatch",
    }
    response = http.post("/api/v1/namespaces/default/events", json=event)
    status, _, body = _http_ref("error-422-event-namespace-mismatch.http")
    assert response.status_code == status
    assert response.json() == json.loads(body) == _ref("error-422-event-namespace-mismatch.json")


def test_json_patch_test_op_failure_is_the_recorded_generic_422(
    http: httpx.Client, running: dict[str, Any]
) -> None:
    response = http.patch(
        f"{PODS_PATH}/mixed-ok",
        content=json.dumps([{"op": "test", "path": "/metadata/labels/app", "value": "other"}]),
        headers={"Content-Type": "application/json-patch+json"},
    )
    status, _, body = _http_ref("error-422-jsonpatch-test-failed.http")
    assert response.status_code == status
    assert response.json() == json.loads(body) == _ref("error-422-jsonpatch-test-failed.json")


def test_delete_precondition_conflicts_are_the_recorded_409s(
    sim: KubeSim, http: httpx.Client, running: dict[str, Any]
) -> None:
    uid, rv = running["metadata"]["uid"], running["metadata"]["resourceVersion"]
    zero = "00000000-0000-0000-0000-000000000000"
    response = http.request(
        "DELETE", f"{PODS_PATH}/mixed-ok", json={"preconditions": {"uid": zero}}
    )
    status, _, body = _http_ref("error-409-delete-uid-precondition.http")
    expected = json.loads(body.replace("d0852e68-47b1-42cc-936d-ba229b391137", uid))
    assert response.status_code == status and response.json() == expected
    assert expected["details"] == {"name": "mixed-ok", "kind": "Pod"}

    response = http.request(
        "DELETE", f"{PODS_PATH}/mixed-ok", json={"preconditions": {"resourceVersion": "1"}}
    )
    status, _, body = _http_ref("error-409-delete-rv-precondition.http")
    expected = json.loads(body.replace("record (2357)", f"record ({rv})"))
    assert response.status_code == status and response.json() == expected
    assert sim.store.find(PODS, "default", "mixed-ok") is not None


def test_put_with_a_stale_resource_version_is_the_recorded_409(
    http: httpx.Client, running: dict[str, Any]
) -> None:
    stale = json.loads(json.dumps(running))
    stale["metadata"]["resourceVersion"] = "1"
    response = http.put(f"{PODS_PATH}/mixed-ok", json=stale)
    status, _, body = _http_ref("error-409-put-stale-resourceversion.http")
    assert response.status_code == status
    assert response.json() == json.loads(body) == _ref("error-409-put-stale-resourceversion.json")


@pytest.mark.parametrize(
    ("path", "query", "recorded"),
    [
        (PODS_PATH, {"fieldSelector": "spec.foo=bar"}, "error-400-unknown-fieldselector"),
        (
            "/api/v1/namespaces/default/events",
            {"fieldSelector": "involvedObject.foo=bar"},
            "error-400-unknown-fieldselector-events",
        ),
        (PODS_PATH, {"labelSelector": "app===x,"}, "error-400-malformed-labelselector"),
        (PODS_PATH, {"labelSelector": "app in (a"}, "error-400-malformed-labelselector-2"),
        (PODS_PATH, {"limit": "2", "continue": "abcd*efgh"}, "error-400-continue-malformed"),
        (PODS_PATH, {"resourceVersionMatch": "NotOlderThan"}, "error-422-rvm-without-rv"),
    ],
)
def test_list_option_errors_are_the_recorded_bodies(
    path: str, query: dict[str, str], recorded: str, http: httpx.Client
) -> None:
    response = http.get(path, params=query)
    status, headers, body = _http_ref(f"{recorded}.http")
    assert response.status_code == status
    assert response.headers["content-type"] == headers["content-type"]
    assert response.json() == json.loads(body) == _ref(f"{recorded}.json")


def test_list_at_a_compacted_exact_resource_version_is_the_recorded_410(
    sim: KubeSim, http: httpx.Client
) -> None:
    sim.apply(MIXED_OK)
    response = http.get(PODS_PATH, params={"resourceVersion": "1", "resourceVersionMatch": "Exact"})
    status, _, body = _http_ref("error-410-list-exact-too-old-rv.http")
    assert response.status_code == status == 410
    assert response.json() == json.loads(body)


def test_list_at_an_exact_resource_version_still_in_history(
    sim: KubeSim, http: httpx.Client
) -> None:
    sim.apply(MIXED_OK)
    before = http.get(PODS_PATH).json()
    rv = before["metadata"]["resourceVersion"]
    sim.apply({**MIXED_OK, "metadata": {"name": "later", "namespace": "default"}})
    sim.advance(5)
    at = http.get(PODS_PATH, params={"resourceVersion": rv, "resourceVersionMatch": "Exact"})
    assert at.status_code == 200
    assert at.json()["metadata"]["resourceVersion"] == rv
    assert [p["metadata"] for p in at.json()["items"]] == [p["metadata"] for p in before["items"]]


# -- 3. pagination -------------------------------------------------------------------------
def _token(text: str) -> dict[str, Any]:
    assert "=" not in text  # base64url without padding
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    decoded: dict[str, Any] = json.loads(raw)
    assert raw.decode() == json.dumps(decoded, separators=(",", ":"))
    return decoded


def _pods(sim: KubeSim, count: int) -> None:
    sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    for i in range(count):
        namespace = "shop" if i % 3 == 0 else "default"
        meta = {"name": f"pod-{i:02d}", "namespace": namespace, "labels": {"app": "mixed"}}
        sim.apply({**MIXED_OK, "metadata": meta})


def test_paginated_list_matches_the_recorded_pages(sim: KubeSim, http: httpx.Client) -> None:
    _pods(sim, 9)
    first = http.get("/api/v1/pods", params={"limit": "2"})
    theirs = _ref("pods-list-limit2-page1.json")
    page1 = first.json()
    assert list(page1) == list(theirs)
    assert list(page1["metadata"]) == list(theirs["metadata"])
    assert page1["metadata"]["remainingItemCount"] == 7 and len(page1["items"]) == 2
    token = _token(page1["metadata"]["continue"])
    recorded = _token(theirs["metadata"]["continue"])
    assert list(token) == list(recorded) == ["v", "rv", "start"]
    assert token["v"] == recorded["v"]
    assert token["rv"] == int(page1["metadata"]["resourceVersion"])
    last = page1["items"][-1]["metadata"]
    assert token["start"] == f"{last['namespace']}/{last['name']}\u0000"
    assert recorded["start"].endswith("\u0000")

    sim.apply({**MIXED_OK, "metadata": {"name": "pod-00a", "namespace": "default"}})
    sim.advance(3)  # the store moves on: later pages still show the first page's version
    page2 = http.get(
        "/api/v1/pods", params={"limit": "2", "continue": page1["metadata"]["continue"]}
    ).json()
    ref2 = _ref("pods-list-limit2-page2.json")
    assert list(page2["metadata"]) == list(ref2["metadata"])
    assert page2["metadata"]["resourceVersion"] == page1["metadata"]["resourceVersion"]
    assert page2["metadata"]["remainingItemCount"] == 5
    seen = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in page1["items"]]
    token = page2["metadata"]["continue"]
    seen += [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in page2["items"]]
    while token:
        page = http.get("/api/v1/pods", params={"limit": "2", "continue": token}).json()
        seen += [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            assert set(page["metadata"]) == {"resourceVersion"}
    assert seen == sorted(seen, key=lambda k: f"{k[0]}/{k[1]}")
    assert len(seen) == 9 and ("default", "pod-00a") not in seen


def test_namespaced_pages_and_filtered_pages(sim: KubeSim, http: httpx.Client) -> None:
    _pods(sim, 9)
    page = http.get(PODS_PATH, params={"limit": "2"}).json()
    assert (
        _token(page["metadata"]["continue"])["start"]
        == page["items"][-1]["metadata"]["name"] + "\u0000"
    )  # below the namespace's prefix
    filtered = http.get(PODS_PATH, params={"limit": "2", "labelSelector": "app=mixed"}).json()
    assert "continue" in filtered["metadata"]
    assert "remainingItemCount" not in filtered["metadata"]  # not counted when filtered


def test_limit_is_ignored_at_resource_version_0(sim: KubeSim, http: httpx.Client) -> None:
    _pods(sim, 5)
    ours = http.get("/api/v1/pods", params={"limit": "2", "resourceVersion": "0"}).json()
    theirs = _ref("pods-list-limit2-rv0-ignores-limit.json")
    assert list(ours["metadata"]) == list(theirs["metadata"]) == ["resourceVersion"]
    assert len(ours["items"]) == 5
    not_older = http.get(
        "/api/v1/pods", params={"resourceVersionMatch": "NotOlderThan", "resourceVersion": "0"}
    ).json()
    assert list(not_older["metadata"]) == list(
        _ref("pods-list-rvm-notolderthan-rv0.json")["metadata"]
    )
    assert len(not_older["items"]) == 5


def test_official_client_and_kubectl_page_through_lists(
    sim: KubeSim, core: client.CoreV1Api, kubectl: Kubectl
) -> None:
    _pods(sim, 7)
    names: list[str] = []
    token = None
    while True:
        page = core.list_pod_for_all_namespaces(limit=3, _continue=token)
        names += [p.metadata.name for p in page.items]
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count is not None
    assert sorted(names) == [f"pod-{i:02d}" for i in range(7)]
    sim.reset_requests()
    out = kubectl("get", "pods", "-A", "--chunk-size=2", "-o", "name").stdout.split()
    assert sorted(out) == [f"pod/pod-{i:02d}" for i in range(7)]
    limits = [r.query for r in sim.requests if r.path == "/api/v1/pods"]
    assert sum("continue=" in q for q in limits) == 3


# -- 2. watch ------------------------------------------------------------------------------
def _frames(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (RESPONSES / path).read_text().splitlines() if line]


class _Watcher:
    """A watch read on a thread, each frame stamped with the simulated time it arrived at."""

    def __init__(self, sim: KubeSim, params: dict[str, str]) -> None:
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.closed_at: float | None = None
        self.status = 0
        self.headers: dict[str, str] = {}
        self._sim = sim
        self._started = sim.clock.seconds()
        self._thread = threading.Thread(target=self._run, args=(params,), daemon=True)
        self._open = threading.Event()
        self._thread.start()
        assert self._open.wait(10)

    def _run(self, params: dict[str, str]) -> None:
        with (
            httpx.Client(
                base_url=self._sim.url,
                verify=False,
                headers={"Authorization": f"Bearer {self._sim.token}"},
                timeout=60,
            ) as c,
            c.stream("GET", PODS_PATH, params={"watch": "1", **params}) as r,
        ):
            self.status, self.headers = r.status_code, dict(r.headers)
            self._open.set()
            for line in r.iter_lines():
                if line:
                    at = self._sim.clock.seconds() - self._started
                    self.frames.append((at, json.loads(line)))
        self.closed_at = self._sim.clock.seconds() - self._started

    def advance_to(self, offset: float, settle: float = 0.3) -> None:
        self._sim.advance(self._started + offset - self._sim.clock.seconds())
        time.sleep(settle)

    def bookmarks(self) -> list[tuple[float, dict[str, Any]]]:
        return [(at, f) for at, f in self.frames if f["type"] == "BOOKMARK"]

    def join(self) -> None:
        self._thread.join(10)
        assert self.closed_at is not None


def _start_rv(http: httpx.Client) -> str:
    rv: str = http.get(PODS_PATH).json()["metadata"]["resourceVersion"]
    return rv


def test_bookmark_frame_and_its_timing_before_the_deadline(
    sim: KubeSim, http: httpx.Client
) -> None:
    """The recorded 15 s watch: events, then one BOOKMARK 2 s before the deadline, then a clean
    close. The deadline and the bookmarks run on the simulated clock."""
    recorded = _frames("watch-pods-bookmarks-stream.txt")
    status, headers, _ = _http_ref("watch-pods-bookmarks-stream.headers.http")
    w = _Watcher(
        sim,
        {"allowWatchBookmarks": "true", "resourceVersion": _start_rv(http), "timeoutSeconds": "15"},
    )
    assert w.status == status and w.headers["content-type"] == headers["content-type"]
    assert "content-length" not in w.headers
    sim.apply({**MIXED_OK, "metadata": {"name": "watched", "namespace": "default"}})
    w.advance_to(3)
    sim.store.delete(PODS, "default", "watched")
    w.advance_to(12.5)
    assert w.bookmarks() == []
    w.advance_to(13)
    w.advance_to(14)  # nothing changed since: no second bookmark
    w.advance_to(15)
    w.join()
    marks = w.bookmarks()
    assert len(marks) == 1 and 13 <= marks[0][0] < 14
    types = [f["type"] for _, f in w.frames]
    assert types[0] == "ADDED" and types[-2:] == ["DELETED", "BOOKMARK"]
    ours = marks[0][1]
    theirs = next(f for f in recorded if f["type"] == "BOOKMARK")
    assert list(ours) == list(theirs)
    assert (
        ours["object"]["metadata"]["resourceVersion"]
        == w.frames[-2][1]["object"]["metadata"]["resourceVersion"]
    )
    ours["object"]["metadata"]["resourceVersion"] = theirs["object"]["metadata"]["resourceVersion"]
    assert json.dumps(ours, separators=(",", ":")) == json.dumps(theirs, separators=(",", ":"))
    assert w.closed_at is not None and w.closed_at >= 15


def test_periodic_bookmark_each_minute_then_before_the_deadline(
    sim: KubeSim, http: httpx.Client
) -> None:
    """The recorded 75 s watch: a bookmark at the minute, one 2 s before the deadline and one
    more a second later when the watch moved on in between."""
    sim.apply(MIXED_OK)
    w = _Watcher(
        sim,
        {"allowWatchBookmarks": "true", "resourceVersion": _start_rv(http), "timeoutSeconds": "75"},
    )
    sim.apply({**MIXED_OK, "metadata": {"name": "watched", "namespace": "default"}})
    w.advance_to(30)
    w.advance_to(59.5)
    assert w.bookmarks() == []
    w.advance_to(60)
    assert [round(at) for at, _ in w.bookmarks()] == [60]
    w.advance_to(65)
    sim.apply({**MIXED_OK, "metadata": {"name": "second", "namespace": "default"}})
    w.advance_to(72)
    w.advance_to(73)
    sim.store.delete(PODS, "default", "watched")
    w.advance_to(74)
    w.advance_to(75)
    w.join()
    at = [round(t) for t, _ in w.bookmarks()]
    assert at == [60, 73, 74]
    rvs = [int(f["object"]["metadata"]["resourceVersion"]) for _, f in w.bookmarks()]
    assert rvs == sorted(set(rvs))


def test_no_bookmarks_unless_allowed(sim: KubeSim, http: httpx.Client) -> None:
    sim.apply(MIXED_OK)
    w = _Watcher(sim, {"resourceVersion": _start_rv(http), "timeoutSeconds": "75"})
    sim.apply({**MIXED_OK, "metadata": {"name": "watched", "namespace": "default"}})
    w.advance_to(75)
    w.join()
    assert w.bookmarks() == [] and w.frames


def test_official_client_watch_takes_bookmarks(sim: KubeSim, core: client.CoreV1Api) -> None:
    sim.apply(MIXED_OK)
    rv = core.list_namespaced_pod("default").metadata.resource_version
    seen: list[str] = []
    w = watch.Watch()

    def run() -> None:
        for event in w.stream(
            core.list_namespaced_pod,
            "default",
            resource_version=rv,
            allow_watch_bookmarks=True,
            timeout_seconds=15,
        ):
            seen.append(event["type"])

    thread = threading.Thread(target=run, daemon=True)
    start = sim.clock.seconds()
    thread.start()
    time.sleep(0.5)
    sim.apply({**MIXED_OK, "metadata": {"name": "watched", "namespace": "default"}})
    for offset in (5, 13, 15):
        sim.advance(start + offset - sim.clock.seconds())
        time.sleep(0.3)
    thread.join(10)
    assert "BOOKMARK" in seen and seen[0] == "ADDED"
    assert w.resource_version is not None


def test_watch_from_a_too_old_version_is_the_recorded_error_frame(
    sim: KubeSim, http: httpx.Client
) -> None:
    sim.apply(MIXED_OK)
    sim.faults.expire_history()
    status, headers, body = _http_ref("watch-pods-too-old-rv-410.http")
    with http.stream(
        "GET", PODS_PATH, params={"watch": "1", "resourceVersion": "1", "timeoutSeconds": "5"}
    ) as r:
        lines = [line for line in r.iter_lines() if line]
        assert r.status_code == status == 200
        assert r.headers["content-type"] == headers["content-type"]
    recorded = [line for line in body.splitlines() if line]
    assert len(lines) == len(recorded) == 1
    ours, theirs = json.loads(lines[0]), json.loads(recorded[0])
    oldest = ours["object"]["message"].removeprefix("too old resource version: 1 (").rstrip(")")
    assert oldest.isdigit() and int(oldest) > 1
    theirs["object"]["message"] = f"too old resource version: 1 ({oldest})"
    assert lines[0] == json.dumps(theirs, separators=(",", ":"))
