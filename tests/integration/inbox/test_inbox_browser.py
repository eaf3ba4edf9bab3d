"""The inbox in a real headless Chromium: a bad rollout waits for a rollback approval; a
read-only token cannot approve it, a forged post changes nothing, and an approver's click rolls
the deployment back until the page says "healed".

The cluster is kubesim with a hand-driven clock: the test advances it while it waits for the
page, once the approval has been used (before that, the plan's facts must stay put).
Set KUBEMEDIC_SAVE_SCREENSHOTS=docs/images to refresh the README's screenshot.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.memory import create_connected_server_and_client_session
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from agent.watch import WatchSettings, run_watch
from kubemedic.inbox import InboxConfig, build_app
from kubemedic.settings import Settings
from kubesim import KubeSim
from mcp_server.approvals import ApprovalStore
from mcp_server.server import create_server
from tests.integration.agent.conftest import (
    advance_until,
    deployment,
    pods,
    server_state,
    waiting_reason,
)
from tests.integration.inbox.conftest import APPROVER, TOKENS, VIEWER, serving
from tests.integration.manifests import SHOP

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
BAD_IMAGE = "nginx:1.25-does-not-exist"
GOOD_IMAGE = "nginx:1.25"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    chromium = shutil.which("chromium") or (str(CHROMIUM) if CHROMIUM.exists() else None)
    driver_path = shutil.which("chromedriver") or (
        str(CHROMEDRIVER) if CHROMEDRIVER.exists() else None
    )
    if chromium is None or driver_path is None:
        pytest.fail(
            "the inbox browser test needs Debian's chromium and chromium-driver "
            "(apt-get install chromium chromium-driver; .ci/run installs them)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1100",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def bad_rollout_waiting(sim: KubeSim, state_dir: Path) -> str:
    """shop's rollout to an image that does not exist; the watch loop proposes a rollback
    and waits for a human. Returns the approval id."""
    sim.apply(SHOP)
    sim.advance(30)
    sim.apply(SHOP.replace(GOOD_IMAGE, BAD_IMAGE))
    advance_until(
        sim,
        lambda: any(
            waiting_reason(p) == "ImagePullBackOff"
            for p in pods(sim)
            if p["metadata"]["name"].startswith("shop-")
        ),
    )
    state = server_state(sim, state_dir)

    async def main() -> None:
        settings = WatchSettings(state_dir=state_dir, policy=state.policy, max_polls=1)
        async with create_connected_server_and_client_session(create_server(state)) as session:
            await run_watch(session, settings)

    try:
        anyio.run(main)
    finally:
        state.close()
    (approval,) = ApprovalStore(state_dir / "state.sqlite").list("pending")
    assert approval.action == "rollback_deployment", approval
    return approval.id


def image(sim: KubeSim) -> str:
    return str(deployment(sim, "shop")["spec"]["template"]["spec"]["containers"][0]["image"])


def sign_in(driver: WebDriver, base_url: str, token: str) -> None:
    driver.get(f"{base_url}/login")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "identity"))


def forge(driver: WebDriver, path: str, fields: dict[str, str]) -> int:
    """A form post from the page's own origin and session (as a forged form would be)."""
    status: Any = driver.execute_async_script(
        "const [path, fields, done] = arguments;"
        "fetch(path, {method: 'POST', credentials: 'same-origin', redirect: 'manual',"
        " body: new URLSearchParams(fields)}).then(r => done(r.status), e => done(String(e)));",
        path,
        fields,
    )
    return int(status)


def save_screenshot(driver: WebDriver, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    assert driver.save_screenshot(str(shot)), "no screenshot"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get("KUBEMEDIC_SAVE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(target) / name)
    return shot


def test_an_approver_rolls_back_a_bad_rollout_from_the_inbox(
    tmp_path: Path, browser: WebDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent looks at the rollout often (the server decides how long healthy is healthy).
    monkeypatch.setenv("KUBEMEDIC_VERIFY_INTERVAL_SECONDS", "0.5")
    monkeypatch.setenv("KUBEMEDIC_VERIFY_MAX_CHECKS", "400")
    state_dir = tmp_path / "state"
    with KubeSim() as sim:
        approval_id = bad_rollout_waiting(sim, state_dir)
        store = ApprovalStore(state_dir / "state.sqlite")
        record = store.get(approval_id)
        assert record is not None
        # The server previewed the change with a dry run when it asked for the approval.
        assert (record.details or {}).get("preview"), record.details
        settings = Settings(state_dir=state_dir, kubeconfig=sim.kubeconfig_path, llm="none")
        app = build_app(settings, InboxConfig(tokens=TOKENS, poll_seconds=1.0))
        with serving(app) as base_url:
            card = f"approval-{approval_id}"

            # A read-only token sees the approval but has no button, and its post is refused.
            sign_in(browser, base_url, VIEWER)
            assert browser.find_element(By.ID, card).get_attribute("data-status") == "pending"
            assert not browser.find_elements(By.CSS_SELECTOR, f"#{card} button.approve")
            csrf = browser.find_element(By.NAME, "csrf").get_attribute("value") or ""
            assert forge(browser, f"/approvals/{approval_id}/approve", {"csrf": csrf}) == 403
            assert store.get(approval_id).status == "pending"  # type: ignore[union-attr]
            browser.find_element(By.CSS_SELECTOR, "button.link").click()  # sign out
            WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "token"))

            # The approver sees the change, the evidence and the rule decision.
            sign_in(browser, base_url, APPROVER)
            text = browser.find_element(By.ID, card).text
            assert "rollback_deployment" in text and "Deployment/default/shop" in text
            diff = browser.find_element(By.CSS_SELECTOR, f"#{card} table.diff").text
            assert "spec.template.spec.containers[nginx].image" in diff, diff
            before = browser.find_element(By.CSS_SELECTOR, f"#{card} table.diff td.before").text
            after = browser.find_element(By.CSS_SELECTOR, f"#{card} table.diff td.after").text
            assert (before, after) == (BAD_IMAGE, GOOD_IMAGE), diff
            assert (
                "ImagePullBackOff"
                in browser.find_element(By.CSS_SELECTOR, f"#{card} .evidence").text
            )
            rule = browser.find_element(By.CSS_SELECTOR, f"#{card} .rule").text
            assert "rollback_deployment" in rule
            assert browser.find_elements(By.CSS_SELECTOR, f"#{card} button.approve")
            save_screenshot(browser, tmp_path, "inbox.png")

            # A forged post without the CSRF token (or with a wrong one) changes nothing.
            assert forge(browser, f"/approvals/{approval_id}/approve", {}) == 403
            assert forge(browser, f"/approvals/{approval_id}/approve", {"csrf": "x" * 43}) == 403
            assert store.get(approval_id).status == "pending"  # type: ignore[union-attr]
            assert image(sim) == BAD_IMAGE

            # Approve: the rollback runs in the background, the page follows it to "healed".
            browser.find_element(By.CSS_SELECTOR, f"#{card} button.approve").click()

            def healed(driver: WebDriver) -> bool:
                approval = store.get(approval_id)
                if approval is not None and approval.status == "consumed":
                    sim.advance(5)  # the write is done: let the cluster roll
                found = driver.find_elements(By.ID, card)
                return bool(found) and found[0].get_attribute("data-outcome") == "healed"

            WebDriverWait(browser, 240, poll_frequency=0.5).until(
                healed, message="the inbox never showed the rollback as healed"
            )
            assert image(sim) == GOOD_IMAGE
            final = browser.find_element(By.ID, card)
            assert final.get_attribute("data-status") == "consumed"
            assert "healed" in final.find_element(By.CSS_SELECTOR, ".outcome").text
            assert "by alice" in final.text
            save_screenshot(browser, tmp_path, "inbox-healed.png")
