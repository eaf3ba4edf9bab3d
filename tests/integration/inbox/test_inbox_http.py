"""The inbox over real HTTP: who may decide, CSRF, the proxy header, headers and escaping.

The approvals here wait on no incident (as one asked for by another MCP client), so a decision
only changes the server's record; the browser test drives a whole incident.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from kubemedic.inbox import InboxConfig, build_app
from kubemedic.settings import Settings
from mcp_server.approvals import Approval, ApprovalStore
from mcp_server.preview import ChangePreview, DryRun, Evidence, FieldChange, RuleDecision
from tests.integration.inbox.conftest import APPROVER, HEALER, TOKENS, VIEWER, csrf_of, serving

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def settings_for(state_dir: Path) -> Settings:
    return Settings(state_dir=state_dir, llm="none")


def ask(state_dir: Path, target: str = "Deployment/default/shop", **details: Any) -> Approval:
    return ApprovalStore(state_dir / "state.sqlite").request(
        "rollback_deployment",
        target,
        reason="the crash began with the latest rollout",
        risk="medium",
        requested_by="kubemedic-agent",
        details=details or None,
    )


def status_of(state_dir: Path, approval_id: str) -> str:
    approval = ApprovalStore(state_dir / "state.sqlite").get(approval_id)
    assert approval is not None
    return approval.status


def wait_for_job(client: httpx.Client, approval_id: str, deadline: float = 60.0) -> dict[str, Any]:
    give_up = time.monotonic() + deadline
    while True:
        rows = client.get("/api/approvals", headers={"Accept": "application/json"}).json()
        (row,) = [r for r in rows["approvals"] if r["id"] == approval_id]
        if row["job"] and row["job"]["state"] != "running":
            return dict(row)
        assert time.monotonic() < give_up, row
        time.sleep(0.05)


@pytest.fixture
def base_url(state_dir: Path) -> Iterator[str]:
    app = build_app(settings_for(state_dir), InboxConfig(tokens=TOKENS, poll_seconds=0.5))
    with serving(app) as url:
        yield url


@contextmanager
def sign_in(base_url: str, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=30) as client:
        form = client.get("/login")
        assert form.status_code == 200
        signed = client.post("/login", data={"token": token, "csrf": csrf_of(form.text)})
        assert signed.status_code == 303, signed.text
        yield client


def test_an_approve_token_approves_once_over_the_api(state_dir: Path, base_url: str) -> None:
    approval = ask(state_dir)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        auth = {"Authorization": f"Bearer {APPROVER}"}
        first = client.post(f"/approvals/{approval.id}/approve", headers=auth)
        assert first.status_code == 202, first.text
        assert first.json()["by"] == "alice"
        client.headers.update(auth)
        row = wait_for_job(client, approval.id)
        assert row["job"]["state"] == "done", row
        assert status_of(state_dir, approval.id) == "granted"
        granted = ApprovalStore(state_dir / "state.sqlite").get(approval.id)
        assert granted is not None and granted.decided_by == "alice"
        again = client.post(f"/approvals/{approval.id}/approve")
        assert again.status_code == 409, again.text
        assert "already granted" in again.json()["error"]


def test_a_signed_in_approver_approves_with_the_form(state_dir: Path, base_url: str) -> None:
    approval = ask(state_dir)
    with sign_in(base_url, APPROVER) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert f'id="approval-{approval.id}"' in page.text
        assert APPROVER not in page.text  # the token is never echoed
        cookie = page.headers.get("set-cookie") or ""
        assert not cookie  # the session was set at sign-in
        posted = client.post(f"/approvals/{approval.id}/approve", data={"csrf": csrf_of(page.text)})
        assert posted.status_code == 303, posted.text
        row = wait_for_job(client, approval.id)
        assert row["job"]["by"] == "alice" and row["decided_by"] == "alice"
        assert status_of(state_dir, approval.id) == "granted"


def test_the_session_cookie_is_httponly_and_strict(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        form = client.get("/login")
        signed = client.post("/login", data={"token": APPROVER, "csrf": csrf_of(form.text)})
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert APPROVER not in signed.headers["set-cookie"]


def test_a_read_only_token_views_but_cannot_approve(state_dir: Path, base_url: str) -> None:
    approval = ask(state_dir)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        listed = client.get("/api/approvals", headers={"Authorization": f"Bearer {VIEWER}"})
        assert listed.status_code == 200
        assert [r["id"] for r in listed.json()["approvals"]] == [approval.id]
        refused = client.post(
            f"/approvals/{approval.id}/approve", headers={"Authorization": f"Bearer {VIEWER}"}
        )
        assert refused.status_code == 403, refused.text
        # heal without approve is no better
        refused = client.post(
            f"/approvals/{approval.id}/reject",
            headers={"Authorization": f"Bearer {HEALER}"},
            json={"reason": "no"},
        )
        assert refused.status_code == 403, refused.text
        wrong = client.post(
            f"/approvals/{approval.id}/approve", headers={"Authorization": "Bearer " + "x" * 24}
        )
        assert wrong.status_code == 401
    with sign_in(base_url, VIEWER) as client:
        page = client.get("/")
        assert page.status_code == 200 and "view only" in page.text
        assert 'class="approve"' not in page.text
        refused = client.post(
            f"/approvals/{approval.id}/approve", data={"csrf": csrf_of(page.text)}
        )
        assert refused.status_code == 403
    assert status_of(state_dir, approval.id) == "pending"


def test_a_post_without_the_csrf_token_changes_nothing(state_dir: Path, base_url: str) -> None:
    approval = ask(state_dir)
    with sign_in(base_url, APPROVER) as client:
        page = client.get("/")
        token = csrf_of(page.text)
        for data in ({}, {"csrf": ""}, {"csrf": token[:-2] + "xx"}, {"csrf": "0" * len(token)}):
            forged = client.post(f"/approvals/{approval.id}/approve", data=data)
            assert forged.status_code == 403, (data, forged.text)
            forged = client.post(f"/approvals/{approval.id}/reject", data={**data, "reason": "x"})
            assert forged.status_code == 403
        # another session's token is no good either
        with sign_in(base_url, APPROVER) as other:
            theirs = csrf_of(other.get("/").text)
        forged = client.post(f"/approvals/{approval.id}/approve", data={"csrf": theirs})
        assert forged.status_code == 403
        # nor is a post without the session cookie (what SameSite=Strict leaves a forger)
        with httpx.Client(base_url=base_url) as stranger:
            forged = stranger.post(f"/approvals/{approval.id}/approve", data={"csrf": token})
            assert forged.status_code == 403
        # signing in also needs the sign-in form's token
        with httpx.Client(base_url=base_url) as stranger:
            forged = stranger.post("/login", data={"token": APPROVER})
            assert forged.status_code == 403
    assert status_of(state_dir, approval.id) == "pending"


def test_reject_needs_a_reason_and_records_it(state_dir: Path, base_url: str) -> None:
    approval = ask(state_dir)
    with sign_in(base_url, APPROVER) as client:
        token = csrf_of(client.get("/").text)
        empty = client.post(
            f"/approvals/{approval.id}/reject", data={"csrf": token, "reason": "  "}
        )
        assert empty.status_code == 400
        assert status_of(state_dir, approval.id) == "pending"
        milder = client.post(
            f"/approvals/{approval.id}/edit", data={"csrf": token, "action": "delete_pod"}
        )
        assert milder.status_code == 400  # no waiting incident offers it
        done = client.post(
            f"/approvals/{approval.id}/reject", data={"csrf": token, "reason": "change freeze"}
        )
        assert done.status_code == 303
        row = wait_for_job(client, approval.id)
    assert row["status"] == "rejected" and row["note"] == "change freeze"
    assert row["outcome"] == "rejected"


def test_the_proxy_header_counts_only_when_configured(state_dir: Path) -> None:
    approval = ask(state_dir)
    plain = build_app(settings_for(state_dir), InboxConfig(tokens=TOKENS))
    with serving(plain) as url, httpx.Client(base_url=url) as client:
        page = client.get("/", headers={"X-Forwarded-User": "mallory"})
        assert page.status_code == 303 and page.headers["location"] == "/login"
        listed = client.get("/api/approvals", headers={"X-Forwarded-User": "mallory"})
        assert listed.status_code == 401
        posted = client.post(
            f"/approvals/{approval.id}/approve", headers={"X-Forwarded-User": "mallory"}
        )
        assert posted.status_code == 403
    assert status_of(state_dir, approval.id) == "pending"

    proxied = build_app(
        settings_for(state_dir), InboxConfig(trusted_user_header="X-Forwarded-User")
    )
    with serving(proxied) as url, httpx.Client(base_url=url) as client:
        client.headers["X-Forwarded-User"] = "pat@example.com"
        page = client.get("/")
        assert page.status_code == 200 and "pat@example.com" in page.text
        token = csrf_of(page.text)
        without = client.post(f"/approvals/{approval.id}/approve", data={})
        assert without.status_code == 403
        # the session belongs to pat: a different user behind the proxy cannot reuse it
        other = client.post(
            f"/approvals/{approval.id}/approve",
            data={"csrf": token},
            headers={"X-Forwarded-User": "eve@example.com"},
        )
        assert other.status_code == 403
        assert status_of(state_dir, approval.id) == "pending"
        posted = client.post(f"/approvals/{approval.id}/approve", data={"csrf": token})
        assert posted.status_code == 303, posted.text
        row = wait_for_job(client, approval.id)
    assert row["decided_by"] == "pat@example.com"


def test_security_headers_on_every_response(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        for response in (
            client.get("/login"),
            client.get("/"),
            client.get("/healthz"),
            client.get("/static/inbox.js"),
            client.get("/static/inbox.css"),
            client.get("/no-such-page"),
            client.post("/approvals/x/approve"),
        ):
            assert response.headers["content-security-policy"] == CSP, response.url
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["cache-control"] in ("no-store", "no-cache")
        assert client.get("/login").headers["cache-control"] == "no-store"
        script = client.get("/static/inbox.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert client.get("/healthz").json() == {"status": "ok"}


def test_cluster_text_is_escaped(state_dir: Path, base_url: str) -> None:
    evil = "<script>alert(1)</script>"
    preview = ChangePreview(
        summary=f"roll back {evil}",
        dry_run=DryRun(ok=True, message="the API server accepted it"),
        changes=[
            FieldChange(
                object="Deployment/default/shop",
                path="spec.template.spec.containers[shop].image",
                before=f'nginx:bad"><img src=x onerror=alert(1)>{evil}',
                after="nginx:1.25",
            )
        ],
        evidence=Evidence(issue="ImagePullBackOff", log_lines=[evil], event_lines=[evil]),
        decision=RuleDecision(action="rollback_deployment", reason=evil, risk="medium"),
    )
    ask(state_dir, preview=preview.model_dump(mode="json"))
    store = ApprovalStore(state_dir / "state.sqlite")
    store.request(
        "delete_pod",
        f"Pod/default/{evil}",
        reason=f"crash {evil}",
        requested_by=evil,
    )
    with sign_in(base_url, VIEWER) as client:
        page = client.get("/").text
        fragment = client.get("/api/approvals").json()["html"]
    for html in (page, fragment):
        assert "<script>alert" not in html and "<img" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "nginx:1.25" in html  # the diff's after side
    assert page.count("<script") == 1  # only /static/inbox.js


def test_extra_routes_share_the_inbox(state_dir: Path) -> None:
    async def slack(request: Request) -> Response:
        inbox = request.app.state.inbox
        return JSONResponse({"pending": len(inbox.store.list("pending"))})

    ask(state_dir)
    app = build_app(
        settings_for(state_dir),
        InboxConfig(tokens=TOKENS),
        extra_routes=[Route("/slack/interactions", slack, methods=["POST"])],
    )
    with TestClient(app) as client:
        answered = client.post("/slack/interactions")
        assert answered.json() == {"pending": 1}
        assert answered.headers["content-security-policy"] == CSP


def test_an_approver_picks_the_milder_action_of_a_waiting_incident(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash-looping pod's delete waits for a human; the inbox offers the rules' milder
    actions and approving one of them ends the incident without a write."""
    from agent.incidents import IncidentRegistry
    from kubesim import KubeSim
    from tests.integration.agent.conftest import writes
    from tests.integration.agent.test_approvals_cli import leave_waiting

    monkeypatch.setenv("KUBEMEDIC_LLM", "none")
    state_dir = tmp_path / "state"
    with KubeSim() as sim:
        incident_id, approval_id = leave_waiting(sim, state_dir)
        sim.reset_requests()
        settings = Settings(state_dir=state_dir, kubeconfig=sim.kubeconfig_path, llm="none")
        with serving(build_app(settings, InboxConfig(tokens=TOKENS))) as url:
            with sign_in(url, APPROVER) as client:
                page = client.get("/").text
                assert f"/approvals/{approval_id}/edit" in page
                assert "Approve investigate_manually instead" in page
                assert incident_id in page
                token = csrf_of(page)
                harsher = client.post(
                    f"/approvals/{approval_id}/edit",
                    data={"csrf": token, "action": "rollback_deployment"},
                )
                assert harsher.status_code == 400, harsher.text
                assert status_of(state_dir, approval_id) == "pending"
                edited = client.post(
                    f"/approvals/{approval_id}/edit",
                    data={"csrf": token, "action": "investigate_manually"},
                )
                assert edited.status_code == 303, edited.text
                row = wait_for_job(client, approval_id)
        assert row["job"]["state"] == "done", row
        assert row["outcome"] == "handed_to_human"
        assert not writes(sim)
    incident = IncidentRegistry(state_dir / "incidents.sqlite").get(incident_id)
    assert incident is not None and incident.outcome == "handed_to_human"
