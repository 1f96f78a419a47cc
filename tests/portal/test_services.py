"""The service calls over real HTTP, both form encodings, SQLite and PostgreSQL, with location
528's backup server in the portal's process and as a process of its own: answers attribute
by attribute as the API document's examples, the provisioning walk to a real disk safe,
changes, termination, and field errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backuprun.disksafe.repository import Repository
from backuprun.storage import open_storage

from .conftest import PASSWORD, Api, portal_settings, start_portal
from .remote import start_backup_server

ADD_EXAMPLE = ("id service_id readonly name host port type status cpanel_instance_id "
               "cpanel_startup mysql_instances mysql_startup ostype create_status "
               "status_min_ok startup_ok serverurl serverhostname serverip username password "
               "location location_id").split()
STATUS_EXAMPLE = ("id service_id readonly name host port type status disk_usage "
                  "cpanel_instance_id cpanel_startup mysql_instances mysql_startup "
                  "mssql_startup exchange_startup ostype running alert_history n_alerts "
                  "create_status status_min_ok startup_ok activation_hint serverurl "
                  "serverhostname serverip username password location location_id "
                  "first_backup_try service_configured restricted maintenance").split()
SAFE_PASSWORD = "disk safe password"


@pytest.fixture(scope="module", params=["local", "remote"])
def portal(request, databases, tmp_path_factory):
    """The module's portal; location 528 (the one ``add_service`` uses) keeps its disk safes
    in a folder of its own, served in-process or by a ``backuprun backup-server``."""
    data = tmp_path_factory.mktemp("data")
    storage = tmp_path_factory.mktemp("safes-528")
    settings = portal_settings(databases, data)
    location = {"storage": str(storage)}
    backup_server = None
    if request.param == "remote":
        backup_server = start_backup_server(528, tmp_path_factory.mktemp("bs"), data, storage,
                                            settings.location_https_port_base)
        location.update(server=backup_server.url, server_cert=str(backup_server.cert))
    p = start_portal(settings.replace(locations={"528": location}))
    yield p
    p.stop()
    if backup_server is not None:
        backup_server.stop()


def add_service(api: Api, **fields):
    fields = {"type": "VDS", "location": "528", "name": "servername",
              "agent": "123.123.123.123", "agent_port": "1167", "encrypt": "0", **fields}
    return api.call("addService", **fields)


def agents(api: Api) -> dict[str, dict]:
    answer = api.call("getStatus").ok()
    account = answer.root.find("account")
    assert account is not None, answer.text
    return {agent.get("id"): dict(agent.attrib) for agent in account.findall("agent")}


def wait_status(api: Api, service_id: str, wanted: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        agent = agents(api)[service_id]
        if int(agent["create_status"]) == wanted:
            return agent
        assert time.monotonic() < deadline, f"create_status stayed {agent}"
        time.sleep(0.05)


def safe_location(portal, location: str, number: str) -> Path:
    configured = portal.settings.locations.get(location, {}).get("storage")
    folder = Path(configured) if configured else \
        Path(portal.settings.data_dir) / "locations" / location / "disksafes"
    return folder / f"service-{number}"


def test_add_service_answers_as_the_document(api, portal):
    api.new_account()
    https_port = str(portal.settings.location_https_port_base + 528)
    answer = add_service(api).ok()
    assert [child.tag for child in answer.root] == ["status", "agent"]
    agent = answer.root.find("agent")
    assert list(agent.attrib) == ADD_EXAMPLE
    number = agent.get("id")
    assert agent.get("service_id") == f"V{number}"
    assert agent.get("type") == "3" and agent.get("status") == "0"
    assert agent.get("create_status") == "0"
    assert agent.get("username") == "" and agent.get("password") == ""
    assert agent.get("location") == "Los Angeles" and agent.get("location_id") == "528"
    assert agent.get("serverurl") == f"https://localhost:{https_port}/login"
    server = agent.find("server")
    assert list(server.attrib) == ["http_port", "https_port", "hostname"]
    assert server.get("https_port") == https_port and server.get("hostname") == "localhost"


def test_walk_makes_an_encrypted_disk_safe(api, portal):
    api.new_account()
    agent = add_service(api, type="SERVER", location="529", encrypt="1",
                        password=SAFE_PASSWORD).ok().root.find("agent")
    number = agent.get("id")
    assert agent.get("service_id") == f"S{number}"
    ready = wait_status(api, number, 10)
    assert list(ready)[:len(STATUS_EXAMPLE)] == STATUS_EXAMPLE
    assert ready["username"] and ready["password"]
    repo = Repository.open(open_storage(str(safe_location(portal, "529", number))),
                           SAFE_PASSWORD.encode())
    assert repo.config["encryption"] == "aes-256-gcm"


def test_get_status_lists_only_own_services(api, new_api):
    api.new_account()
    assert agents(api) == {}
    mine = add_service(api).ok().root.find("agent").get("id")
    other = new_api()
    other.new_account()
    add_service(other).ok()
    assert list(agents(api)) == [mine]


@pytest.mark.parametrize("fields, code, field", [
    ({"type": "VPS"}, "invalid_field", "type"),
    ({"type": ""}, "missing_field", "type"),
    ({"location": "531"}, "unknown_location", "location"),
    ({"location": "abc"}, "unknown_location", "location"),
    ({"agent": "not a host!"}, "invalid_host", "agent"),
    ({"agent": "-bad.example.com"}, "invalid_host", "agent"),
    ({"agent": ""}, "missing_field", "agent"),
    ({"agent_port": "0"}, "invalid_port", "agent_port"),
    ({"agent_port": "65536"}, "invalid_port", "agent_port"),
    ({"agent_port": "12a"}, "invalid_port", "agent_port"),
    ({"name": "x" * 65}, "field_too_long", "name"),
    ({"name": ""}, "missing_field", "name"),
    ({"encrypt": "1"}, "missing_field", "password"),
    ({"encrypt": "1", "password": "short"}, "password_too_short", "password"),
    ({"encrypt": "2"}, "invalid_field", "encrypt"),
])
def test_add_service_refuses_bad_fields(api, fields, code, field):
    api.new_account()
    add_service(api, **fields).fails(code, field)
    assert agents(api) == {}


def test_hostnames_and_ipv6_are_accepted(api):
    api.new_account()
    add_service(api, agent="Backup-01.Example.COM").ok()
    agent = add_service(api, agent="2001:db8::1").ok().root.find("agent")
    assert agent.get("host") == "2001:db8::1"
    assert {a["host"] for a in agents(api).values()} == {"backup-01.example.com",
                                                          "2001:db8::1"}


def test_activation_hints(api):
    api.new_account()
    number = add_service(api).ok().root.find("agent").get("id")
    service_id = f"V{number}"
    api.call("setActivationHint", activation_hint="install-on-Linux",
             service_id=service_id).ok()
    agent = agents(api)[number]
    assert agent["activation_hint"] == "install-on-Linux"
    assert agent["service_configured"] == "0"
    api.call("setServiceConfigured", activation_hint="install-on-Proxomx",
             service_id=service_id).ok()
    agent = agents(api)[number]
    assert agent["activation_hint"] == "install-on-Proxmox"
    assert agent["service_configured"] == "1"
    api.call("setActivationHint", activation_hint="install-on-BeOS",
             service_id=service_id).fails("invalid_activation_hint", "activation_hint")
    api.call("setActivationHint", activation_hint="install-on-Linux",
             service_id=f"S{number}").fails("service_not_found", "service_id")


def test_activate_agent_changes_and_rewraps_the_key(api, portal):
    api.new_account()
    number = add_service(api, encrypt="1", password=SAFE_PASSWORD).ok() \
        .root.find("agent").get("id")
    wait_status(api, number, 10)
    answer = api.call("activateAgent", **{
        "agent-id": number, "location": "528", "name": "renamed", "agent": "10.0.0.7",
        "agent_port": "2000", "encrypt": "1", "password": "a new disk safe password"}).ok()
    agent = answer.root.find("agent")
    assert list(agent.attrib) == ADD_EXAMPLE
    assert agent.get("name") == "renamed" and agent.get("port") == "2000"
    assert agent.get("create_status") in ("-1", "10")
    wait_status(api, number, 10)
    storage = open_storage(str(safe_location(portal, "528", number)))
    Repository.open(storage, b"a new disk safe password")


def test_activate_agent_moves_an_empty_service(api, portal):
    api.new_account()
    number = add_service(api).ok().root.find("agent").get("id")
    wait_status(api, number, 10)
    api.call("activateAgent", **{"agent-id": number, "location": "530"}).ok()
    agent = wait_status(api, number, 10)
    assert agent["location_id"] == "530" and agent["location"] == "Bucharest"
    assert not safe_location(portal, "528", number).exists()
    Repository.open(open_storage(str(safe_location(portal, "530", number))), None)


def test_terminate_and_assign(api):
    api.new_account()
    subuser = api.add_contact()
    number = add_service(api).ok().root.find("agent").get("id")
    edit = dict(sc_id=number, service_type="custom")
    api.call("editService", service_action="set_subuser", subuser_id=str(subuser), **edit).ok()
    api.call("editService", service_action="set_subuser", subuser_id="999999", **edit) \
        .fails("subuser_not_found", "subuser_id")
    api.call("editService", service_action="set_subuser", subuser_id="-1", **edit).ok()
    api.call("editService", service_action="set_subuser", subuser_id="0", **edit).ok()
    api.call("editService", service_action="explode", **edit) \
        .fails("invalid_field", "service_action")
    api.call("editService", service_action="terminate", sc_id=number,
             service_type="other").fails("invalid_field", "service_type")
    api.call("editService", service_action="terminate", **edit).ok()
    assert agents(api)[number]["create_status"] == "-4"
    api.call("activateAgent", **{"agent-id": number, "name": "x"}).fails("service_terminated")
    api.call("editService", service_action="terminate", **edit).fails("service_terminated")


def test_special_locations_need_the_account_flag(make_portal, new_api):
    portal = make_portal(locations={"600": {"name": "Private", "special": True}})
    api = new_api(portal)
    api.new_account()
    add_service(api, location="600").fails("location_not_allowed", "location")
    add_service(api, location="527").ok()


def test_terminate_with_no_grace_deletes_the_disk_safe(make_portal, new_api):
    portal = make_portal(termination_grace_seconds=0)
    api = new_api(portal)
    api.new_account()
    number = add_service(api, location="527").ok().root.find("agent").get("id")
    wait_status(api, number, 10)
    assert safe_location(portal, "527", number).exists()
    api.call("editService", service_action="terminate", sc_id=number,
             service_type="custom").ok()
    deadline = time.monotonic() + 30
    while number in agents(api):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not safe_location(portal, "527", number).exists()


def test_password_minimum_is_the_accounts_one(api):
    api.new_account()
    add_service(api, encrypt="1", password="x" * 7).fails("password_too_short", "password")
    add_service(api, encrypt="1", password=PASSWORD).ok()


@pytest.mark.s3
def test_walk_makes_the_disk_safe_in_s3(make_portal, new_api, s3_location):
    portal = make_portal(locations={"529": {"storage": s3_location.url}})
    api = new_api(portal)
    api.new_account()
    number = add_service(api, location="529", encrypt="1", password=SAFE_PASSWORD).ok() \
        .root.find("agent").get("id")
    wait_status(api, number, 10)
    storage = open_storage(f"{s3_location.url}/service-{number}")
    assert Repository.open(storage, SAFE_PASSWORD.encode()).config["encryption"] != "none"
    assert not safe_location(portal, "529", number).exists()


def test_service_login_at_serverurl(api, portal):
    """``serverurl`` is a real login page, on the backup server's own certificate, for the
    service's ``username``/``password``; it opens that one service, read-only."""
    import httpx

    from backuprun.transport.tls import fetch_certificate, fingerprint_of

    api.new_account()
    number = add_service(api, name="login <test>").ok().root.find("agent").get("id")
    agent = wait_status(api, number, 10)
    port = portal.settings.location_https_port_base + 528
    assert agent["serverurl"] == f"https://localhost:{port}/login"
    pem = fetch_certificate("127.0.0.1", port)
    with httpx.Client(verify=False, timeout=30) as http:
        index = http.get(f"https://127.0.0.1:{port}/")
        assert fingerprint_of(pem) in index.text
        assert http.get(f"https://127.0.0.1:{port}/server.pem").content == pem
        wrong = http.post(f"https://127.0.0.1:{port}/login",
                          data={"username": agent["username"], "password": "wrong"})
        assert wrong.status_code == 401
        page = http.post(f"https://127.0.0.1:{port}/login", follow_redirects=True,
                         data={"username": agent["username"], "password": agent["password"]})
        assert page.status_code == 200, page.text
        assert "login &lt;test&gt;" in page.text and "Default" in page.text
        assert f"service-{number}" in page.text
    api.call("editService", sc_id=number, service_action="terminate",
             service_type="custom").ok()
    with httpx.Client(verify=False, timeout=30) as http:
        refused = http.post(f"https://127.0.0.1:{port}/login",
                            data={"username": agent["username"], "password": agent["password"]})
        assert refused.status_code == 401


def test_a_failing_step_shows_its_error_and_completes_later(make_portal, new_api, tmp_path):
    """Storage that cannot be written: the walk stops at the disk safe with its error in
    ``create_error``, retries, and completes once the storage works; nothing is lost."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the storage folder should be")
    portal = make_portal(locations={"527": {"storage": str(blocked / "safes")}},
                         task_cooldown_seconds=1)
    api = new_api(portal)
    api.new_account()
    number = add_service(api, location="527").ok().root.find("agent").get("id")
    deadline = time.monotonic() + 60
    while not (agent := agents(api)[number])["create_error"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert agent["create_status"] == "3"
    blocked.unlink()
    agent = wait_status(api, number, 10)
    assert agent["create_error"] == ""
    Repository.open(open_storage(str(blocked / "safes" / f"service-{number}")), None)
