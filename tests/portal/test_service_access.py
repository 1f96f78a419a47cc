"""Who may do what: every service call x owner, another account, the assigned subuser, an
unassigned subuser and nobody, with the owner's id, an id that does not exist, and the id of
another account's service."""

from __future__ import annotations

import pytest

from .conftest import PASSWORD, Api, unique_email
from .test_services import add_service, agents

CHANGES = {
    "activateAgent": lambda n: {"agent-id": n, "name": "changed"},
    "setActivationHint": lambda n: {"service_id": f"V{n}", "activation_hint": "install-on-Linux"},
    "setServiceConfigured": lambda n: {"service_id": f"V{n}",
                                       "activation_hint": "linux-express-install"},
    "editService": lambda n: {"sc_id": n, "service_action": "set_subuser",
                              "service_type": "custom", "subuser_id": "0"},
}
EXPECTED = {  # the answer each caller gets for a change to the owner's service
    "owner": None,
    "other": "service_not_found",
    "assigned": "not_allowed",
    "unassigned": "service_not_found",
    "anonymous": "not_logged_in",
}


@pytest.fixture
def world(new_api):
    """An owner with a service assigned to one of two subusers, and another account."""
    owner = new_api()
    owner.new_account()
    number = add_service(owner).ok().root.find("agent").get("id")
    assigned_email, unassigned_email = unique_email("sub"), unique_email("sub")
    assigned_id = owner.add_contact(assigned_email)
    owner.add_contact(unassigned_email)
    owner.call("editService", sc_id=number, service_action="set_subuser",
               service_type="custom", subuser_id=str(assigned_id)).ok()
    other = new_api()
    other.new_account()
    theirs = add_service(other).ok().root.find("agent").get("id")
    callers = {"owner": owner, "other": other, "anonymous": new_api()}
    for name, email in (("assigned", assigned_email), ("unassigned", unassigned_email)):
        callers[name] = new_api()
        callers[name].login(email, PASSWORD).ok()
    return callers, number, theirs


def answer_code(api: Api, call: str, fields: dict) -> str | None:
    answer = api.call(call, **fields)
    return None if answer.status == "ok" else answer.error


@pytest.mark.parametrize("call", sorted(CHANGES))
@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_changes(world, call, who):
    callers, number, _ = world
    assert answer_code(callers[who], call, CHANGES[call](number)) == EXPECTED[who]


@pytest.mark.parametrize("call", sorted(CHANGES))
def test_ids_of_others_and_unknown_ids_answer_alike(world, call):
    callers, _, theirs = world
    owner = callers["owner"]
    foreign = owner.call(call, **CHANGES[call](theirs))
    unknown = owner.call(call, **CHANGES[call]("99999"))
    assert foreign.error == unknown.error == "service_not_found"
    assert foreign.text.replace(theirs, "N") == unknown.text.replace("99999", "N")


def test_terminate(world):
    callers, number, theirs = world
    fields = {"sc_id": number, "service_action": "terminate", "service_type": "custom"}
    for who in ("other", "assigned", "unassigned", "anonymous"):
        assert answer_code(callers[who], "editService", fields) == EXPECTED[who], who
    assert agents(callers["owner"])[number]["create_status"] != "-4"
    assert answer_code(callers["owner"], "editService", {**fields, "sc_id": theirs}) == \
        "service_not_found"
    assert answer_code(callers["owner"], "editService", fields) is None


def test_add_service_needs_a_main_account(world):
    callers, _, _ = world
    assert add_service(callers["assigned"]).error == "not_allowed"
    assert add_service(callers["anonymous"]).error == "not_logged_in"


def test_who_sees_what(world):
    callers, number, theirs = world
    assert list(agents(callers["owner"])) == [number]
    seen = agents(callers["assigned"])
    assert list(seen) == [number]
    # a subuser may not change it, and does not see the service's own login
    assert seen[number]["readonly"] == "1"
    assert seen[number]["username"] == seen[number]["password"] == ""
    assert agents(callers["unassigned"]) == {}
    assert list(agents(callers["other"])) == [theirs]
    assert callers["anonymous"].call("getStatus").error == "not_logged_in"


def test_get_status_names_the_assigned_subuser_to_the_owner_only(world):
    callers, number, _ = world
    assigned = callers["owner"].call("getContacts").ok().root.find("contact").get("id")
    assert agents(callers["owner"])[number]["subuser_id"] == assigned
    assert agents(callers["assigned"])[number]["subuser_id"] == ""
    callers["owner"].call("editService", sc_id=number, service_action="set_subuser",
                          service_type="custom", subuser_id="0").ok()
    assert agents(callers["owner"])[number]["subuser_id"] == "0"
