"""``apiCALL`` handlers for services: section 3 of the API document (3.1-3.5, 3.7).

Answers follow the document's examples attribute for attribute and in their order
(:data:`ADD_ATTRIBUTES` for ``addService``/``activateAgent``, :data:`STATUS_ATTRIBUTES`
for ``getStatus``); ``getStatus`` adds attributes of ours after them, ``create_error``
(why provisioning is stuck, empty while it is not), ``subuser_id`` (the subuser the
service is assigned to, 0 for none; empty for a subuser) and ``encrypt`` (whether its disk
safe is encrypted). Values come from what the backup server saw (its tasks: ``status``, ``running``, ``n_alerts``, ``alert_history``, ``ostype``...);
those no feature sets yet (cPanel, MySQL, MSSQL, Exchange) are 0 or empty, never invented.
"""

from __future__ import annotations

import json

from backuprun.portal.accounts.service import Caller
from backuprun.portal.calls.base import Answer, Call, Handler, login_required
from backuprun.portal.errors import ErrorCode, PortalError
from backuprun.portal.services.access import is_readonly_for
from backuprun.portal.services.manager import ServiceView
from backuprun.portal.services.rules import wire_service_id
from backuprun.portal.wire import element, wire_time

ADD_ATTRIBUTES = (
    "id", "service_id", "readonly", "name", "host", "port", "type", "status",
    "cpanel_instance_id", "cpanel_startup", "mysql_instances", "mysql_startup", "ostype",
    "create_status", "status_min_ok", "startup_ok", "serverurl", "serverhostname",
    "serverip", "username", "password", "location", "location_id",
)
STATUS_ATTRIBUTES = (
    "id", "service_id", "readonly", "name", "host", "port", "type", "status", "disk_usage",
    "cpanel_instance_id", "cpanel_startup", "mysql_instances", "mysql_startup",
    "mssql_startup", "exchange_startup", "ostype", "running", "alert_history", "n_alerts",
    "create_status", "status_min_ok", "startup_ok", "activation_hint", "serverurl",
    "serverhostname", "serverip", "username", "password", "location", "location_id",
    "first_backup_try", "service_configured", "restricted", "maintenance", "create_error",
    "subuser_id", "encrypt",
)
SERVICE_ACTIONS = ("terminate", "set_subuser")


def alert_history(view: ServiceView, offset_minutes: int = 0) -> str:
    """``alert_history``: the service's recent tasks as a JSON array, newest first, with the
    ``taskExecutionContextId`` that ``getTaskDetailById`` takes (docs/api.md)."""
    history = []
    for task in view.state.alert_history:
        item = dict(task)
        for name in ("created", "started", "finished"):
            item[name] = wire_time(item.get(name, ""), offset_minutes)
        history.append(item)
    return json.dumps(history, separators=(",", ":"))


def agent_values(view: ServiceView, caller: Caller, offset_minutes: int = 0) -> dict[str, object]:
    """Every attribute an ``<agent>`` element may carry, computed for ``caller``."""
    service, state, where = view.service, view.state, view.location
    owner = not caller.account.is_subuser
    return {
        "id": service.id, "service_id": wire_service_id(service.kind, service.id),
        "readonly": is_readonly_for(caller, service), "name": service.name,
        "host": service.host, "port": service.port, "type": service.kind,
        "status": state.status, "disk_usage": state.disk_usage,
        "cpanel_instance_id": "", "cpanel_startup": 0, "mysql_instances": 0,
        "mysql_startup": 0, "mssql_startup": 0, "exchange_startup": 0, "ostype": state.ostype,
        "running": state.running, "alert_history": alert_history(view, offset_minutes),
        "n_alerts": state.n_alerts, "create_status": state.create_status,
        "status_min_ok": state.status_min_ok, "startup_ok": state.startup_ok,
        "activation_hint": service.activation_hint, "serverurl": where.serverurl,
        "serverhostname": where.hostname, "serverip": where.ip,
        "username": state.username if owner else "",
        "password": state.password if owner else "",
        "location": where.name, "location_id": where.id,
        "first_backup_try": state.first_backup_try,
        "service_configured": service.service_configured,
        "restricted": service.restricted, "maintenance": service.maintenance,
        "create_error": state.error if owner else "",
        "subuser_id": (service.subuser_id or 0) if owner else "",
        "encrypt": service.encrypt,
    }


def agent_element(view: ServiceView, caller: Caller, attributes: tuple[str, ...],
                  server_ip: bool, offset_minutes: int = 0, children: tuple = ()) -> object:
    values = agent_values(view, caller, offset_minutes)
    where = view.location
    server = {"ip": where.ip} if server_ip else {}
    server.update(http_port=where.http_port, https_port=where.https_port,
                  hostname=where.hostname)
    return element("agent", {name: values[name] for name in attributes},
                   [element("server", server), *children])


@login_required
async def add_service(call: Call) -> Answer:
    f = call.fields
    view = await call.services.services.add(
        call.logged_in, kind=f.get("type"), location=f.get("location"), name=f.get("name"),
        host=f.get("agent"), port=f.get("agent_port"), encrypt=f.flag("encrypt"),
        password=f.get("password"))
    return Answer([agent_element(view, call.logged_in, ADD_ATTRIBUTES, server_ip=False)])


@login_required
async def activate_agent(call: Call) -> Answer:
    f = call.fields
    view = await call.services.services.activate(
        call.logged_in, f.identifier("agent-id"), name=f.get("name"), host=f.get("agent"),
        port=f.get("agent_port"), location=f.get("location"),
        encrypt=f.flag("encrypt", default=None), password=f.get("password") or None)
    return Answer([agent_element(view, call.logged_in, ADD_ATTRIBUTES, server_ip=False)])


@login_required
async def set_activation_hint(call: Call) -> Answer:
    f = call.fields
    await call.services.services.set_activation_hint(
        call.logged_in, f.get("service_id"), f.get("activation_hint"), configured=False)
    return Answer()


@login_required
async def set_service_configured(call: Call) -> Answer:
    f = call.fields
    await call.services.services.set_activation_hint(
        call.logged_in, f.get("service_id"), f.get("activation_hint"), configured=True)
    return Answer()


@login_required
async def edit_service(call: Call) -> Answer:
    f = call.fields
    action = f.required("service_action").strip()
    if action not in SERVICE_ACTIONS:
        raise PortalError(ErrorCode.INVALID_FIELD, "service_action",
                          "service_action is terminate or set_subuser.")
    service_type = (f.get("service_type") or "custom").strip()
    if service_type != "custom":
        raise PortalError(ErrorCode.INVALID_FIELD, "service_type", "service_type is custom.")
    number = f.identifier("sc_id")
    if action == "terminate":
        await call.services.services.terminate(call.logged_in, number)
    else:
        await call.services.services.assign(call.logged_in, number, f.assignee("subuser_id"))
    return Answer()


@login_required
async def get_status(call: Call) -> Answer:
    offset = call.fields.timezone_offset()
    views = await call.services.services.list(call.logged_in)
    agents = [agent_element(v, call.logged_in, STATUS_ATTRIBUTES, server_ip=True,
                            offset_minutes=offset) for v in views]
    return Answer([element("account", children=agents)])


@login_required
async def get_locations(call: Call) -> Answer:
    """Ours: the locations this account may add a service in."""
    return Answer([element("location", {"id": where.id, "name": where.name,
                                        "hostname": where.hostname, "special": where.special})
                   for where in call.services.services.offered_locations(call.logged_in)])


CALLS: dict[str, Handler] = {
    "addService": add_service,
    "activateAgent": activate_agent,
    "setActivationHint": set_activation_hint,
    "setServiceConfigured": set_service_configured,
    "editService": edit_service,
    "getStatus": get_status,
    "getLocations": get_locations,
}
