"""``backuprun admin`` against a running portal's database: operator flags refuse changes,
a termination can be cancelled, the walk is shown, accounts may get special locations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_services import add_service, agents, wait_status


@pytest.fixture
def encoding():
    """One form encoding is enough here: these tests are about the operator's commands."""
    return "urlencoded"


def admin(portal, *args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("backuprun")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKUPRUN_")}
    env["BACKUPRUN_LOCATION_HTTPS_PORT_BASE"] = str(portal.settings.location_https_port_base)
    return subprocess.run(
        [str(script), "admin", *args, "--data-dir", str(portal.settings.data_dir),
         "--database-url", portal.settings.database_url],
        capture_output=True, text=True, timeout=120, env=env)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_operator_flags_refuse_changes(api, portal):
    email = api.new_account()
    number = add_service(api).ok().root.find("agent").get("id")
    change = {"agent-id": number, "name": "changed"}
    for flag, code in (("readonly", "service_readonly"), ("restricted", "service_restricted"),
                       ("maintenance", "service_maintenance")):
        ok(admin(portal, "set", f"V{number}", f"--{flag}"))
        agent = agents(api)[number]
        assert agent["readonly"] == "1"
        if flag != "readonly":
            assert agent[flag] == "1"
        api.call("activateAgent", **change).fails(code)
        api.call("editService", sc_id=number, service_action="terminate",
                 service_type="custom").fails(code)
        ok(admin(portal, "set", number, f"--no-{flag}"))
    api.call("activateAgent", **change).ok()
    listing = ok(admin(portal, "services", "--account", email))
    assert f"V{number}\t{email}\tchanged" in listing
    assert email in ok(admin(portal, "accounts"))


def test_cancel_termination_and_walk(api, portal):
    api.new_account()
    number = add_service(api).ok().root.find("agent").get("id")
    wait_status(api, number, 10)
    api.call("editService", sc_id=number, service_action="terminate",
              service_type="custom").ok()
    assert agents(api)[number]["create_status"] == "-4"
    ok(admin(portal, "cancel-termination", number))
    wait_status(api, number, 10)
    api.call("activateAgent", **{"agent-id": number, "name": "kept"}).ok()
    walk = ok(admin(portal, "walk", number))
    steps = [line.split("\t")[2] for line in walk.splitlines()]
    assert steps[:6] == ["volume", "user", "agent", "disksafe", "policy", "ready"]
    assert "terminated" in steps and "termination cancelled" in steps


def test_special_locations(make_portal, new_api):
    portal = make_portal(locations={"600": {"name": "Private", "special": True}})
    api = new_api(portal)
    email = api.new_account()
    add_service(api, location="600").fails("location_not_allowed", "location")
    ok(admin(portal, "special-locations", email))
    assert api.login(email).ok().root.find("user/special_locations").get("value") == "1"
    add_service(api, location="600").ok()
    ok(admin(portal, "special-locations", email, "--deny"))
    add_service(api, location="600").fails("location_not_allowed", "location")


def test_unknown_service_is_one_clear_line(portal):
    done = admin(portal, "walk", "999999")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: This account has no service with that id."
