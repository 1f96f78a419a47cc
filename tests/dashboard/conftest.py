"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright, against
a real ``backuprun serve`` (``tests/e2e/conftest.py`` starts it, and real agents).

- ``browser`` (module): Chromium, or a skip naming ``scripts/test-tools`` (a failure under
  CI: the tests are marked ``browser``, see ``tests/hygiene.py``).
- ``dash``: a fresh browser context (its own cookies) on the module's ``system``, as a
  :class:`Dash`: ``open``, ``axe`` (no serious or critical violation), ``shot``. A page
  error, or anything the page's Content-Security-Policy refused, fails the test.
- Screenshots: :data:`SCREENSHOTS` names them; written to the test's ``tmp_path``, and to
  ``docs/screenshots/`` when ``BACKUPRUN_SCREENSHOTS=1`` (``docs/dashboard.md`` shows them).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import Client, Service, System, start_system, wait_for

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = REPO / "docs" / "screenshots"
AXE = Path(os.environ.get("BACKUPRUN_TEST_AXE") or
           REPO / ".cache/test-tools/node_modules/axe-core/axe.min.js")
CHROMIUM = os.environ.get("BACKUPRUN_TEST_CHROMIUM") or shutil.which("chromium") or ""
SCREENSHOTS = ("login", "services", "services-phone", "add-service", "activate", "backup",
               "task-log", "failed-backup", "restore", "subusers", "subuser-view",
               "settings", "recover")
SERIOUS = ("serious", "critical")
PASSWORD = "correct horse battery"
FAST = 15_000  # ms: what the page shows at once (one API round trip)
SLOW = 120_000  # ms: what waits for a backup server or an agent



@pytest.fixture(scope="module")
def browser():
    """Per module: while Playwright's sync API runs, this thread's asyncio loop counts as
    running, and the other packages' tests call ``asyncio.run``."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM or not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed: run scripts/test-tools")
    if not AXE.is_file():
        pytest.skip(f"axe-core is not at {AXE}: run scripts/test-tools")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    s = start_system(tmp_path_factory.mktemp("dash"))
    yield s
    s.stop()


@dataclass
class Dash:
    """One browser context (its own cookies) on the portal."""

    context: object
    page: object
    base: str
    tmp: Path
    problems: list = field(default_factory=list)

    def open(self, route: str = "") -> None:
        """Go to ``route`` and wait until the dashboard has shown the page it leads to
        (``main[data-shown]`` counts the pages shown: a change of the address's ``#`` part
        keeps the document, and its old page, until the new one is shown)."""
        url = f"{self.base}/#/{route}" if route else f"{self.base}/"
        shown = self.page.evaluate(
            "document.getElementById('main')?.dataset.shown || '0'") if \
            self.page.url.startswith(self.base) else "0"
        if self.page.url == url:
            self.page.reload()
            shown = "0"
        else:
            self.page.goto(url)
        # polled from here: wait_for_function would eval, which the page's policy refuses
        wait_for(f"the page {route!r}", lambda: int(self.page.evaluate(
            "document.getElementById('main')?.dataset.shown || '0'")) > int(shown),
            FAST / 1000, every=0.05)

    def heading(self, text: str, timeout: int = FAST) -> None:
        self.page.get_by_role("heading", level=1, name=text).wait_for(timeout=timeout)

    def text(self, text: str, timeout: int = FAST):
        locator = self.page.get_by_text(text).first
        locator.wait_for(timeout=timeout)
        return locator

    def axe(self, what: str) -> list[dict]:
        """Run axe-core on the page as it is; fail on any serious or critical violation."""
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(AXE.read_text(encoding="utf-8"))  # CDP: not subject to CSP
        found = self.page.evaluate("""async () => (await axe.run(document, {
            resultTypes: ["violations"]})).violations.map((v) => ({
              id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5)}))""")
        serious = [v for v in found if v["impact"] in SERIOUS]
        assert serious == [], f"{what}: {serious}"
        if os.environ.get("BACKUPRUN_AXE_REPORT") == "1":  # the lesser ones, to read (-s)
            print(f"\naxe, {what}: " + ("; ".join(
                f"{v['impact']} {v['id']} {v['nodes'][:2]}" for v in found) or "none"))
        return found

    def shot(self, name: str) -> None:
        assert name in SCREENSHOTS, name
        path = self.tmp / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        if os.environ.get("BACKUPRUN_SCREENSHOTS") == "1":
            SCREENSHOT_DIR.mkdir(exist_ok=True)
            shutil.copyfile(path, SCREENSHOT_DIR / f"{name}.png")

    def fits(self) -> None:
        """Nothing sticks out sideways: the layout holds at this width."""
        width = self.page.evaluate("document.documentElement.scrollWidth")
        inner = self.page.evaluate("window.innerWidth")
        assert width <= inner, f"{width}px wide at a {inner}px window"


@pytest.fixture
def new_dash(browser, system, tmp_path):
    made = []

    def make(width: int = 1280, height: int = 900) -> Dash:
        context = browser.new_context(viewport={"width": width, "height": height},
                                      accept_downloads=True)
        page = context.new_page()
        dash = Dash(context, page, system.url.removesuffix("/api.php"), tmp_path)
        page.on("pageerror", lambda error: dash.problems.append(f"page error: {error}"))
        page.on("console", lambda m: m.type == "error" and re.search(
            "Content Security Policy|SyntaxError|TypeError", m.text)
            and dash.problems.append(f"console: {m.text}"))
        made.append(dash)
        return dash

    yield make
    problems = [p for d in made for p in d.problems]
    for d in made:
        d.context.close()
    assert problems == []


@pytest.fixture
def dash(new_dash) -> Dash:
    return new_dash()


def register(dash: Dash, name: str = "Ann Owner") -> str:
    """Register through the page (which logs in); the new account's e-mail address."""
    from tests.portal.conftest import unique_email

    email = unique_email("dash")
    dash.open("register")
    page = dash.page
    page.get_by_label("Your name").fill(name)
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Create the account").click()
    dash.heading("Your services")
    return email


def log_in(dash: Dash, email: str, password: str = PASSWORD) -> None:
    dash.open("login")
    dash.page.get_by_label("E-mail address").fill(email)
    dash.page.get_by_label("Password", exact=True).fill(password)
    dash.page.get_by_role("button", name="Log in").click()
    dash.heading("Your services")


def add_service(dash: Dash, port: int, name: str = "web1", encrypt: str | None = None) -> str:
    """The wizard, step by step; the new service's id (the activation page opens)."""
    page = dash.page
    dash.open("services/new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Host name or IP address").fill("127.0.0.1")
    page.get_by_label("Agent port").fill(str(port))
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Los Angeles").check()
    page.get_by_role("button", name="Next").click()
    if encrypt:
        page.get_by_label("Encrypt this service's backups").check()
        page.get_by_label("Disk safe password").fill(encrypt)
        page.get_by_label("The same password again").fill(encrypt)
        page.get_by_label("I understand").check()
    page.get_by_role("button", name="Create the service").click()
    dash.heading(f"Activate {name}")
    return re.search(r"#/services/([SV]\d+)/activate", page.url).group(1)


def api_client(system: System, email: str) -> Client:
    """The same account over api.php, for what the test must learn besides the page."""
    client = Client(system.url)
    client.call("login", email=email, password=PASSWORD).ok()
    client.email = email
    return client


def service_of(system: System, client: Client, wire_id: str) -> Service:
    for agent in client.call("getStatus").ok().root.iter("agent"):
        if agent.get("service_id") == wire_id:
            server = agent.find("server")
            return Service(client, wire_id, int(agent.get("id")), int(agent.get("port")),
                           f"https://{agent.get('serverip')}:{server.get('https_port')}")
    raise AssertionError(f"no service {wire_id}")


__all__ = ["Dash", "register", "log_in", "add_service", "api_client", "service_of",
           "wait_for", "PASSWORD", "FAST", "SLOW"]
