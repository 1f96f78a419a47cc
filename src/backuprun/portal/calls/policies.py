"""``apiCALL`` handlers for a service's policy (calls of ours, in the document's style):
``getPolicy`` and ``setPolicy`` (docs/api.md)."""

from __future__ import annotations

from backuprun.portal.calls.base import Answer, Call, Handler, login_required
from backuprun.portal.errors import ErrorCode, PortalError
from backuprun.portal.wire import element, wire_time


def policy_element(policy: dict, offset: int) -> object:
    return element("policy", {
        "name": policy["name"], "schedule": policy["schedule"],
        "keep_last": policy["keep_last"], "next_run": wire_time(policy["next_run"], offset)},
        [element("exclude", {"path": path}) for path in policy["excludes"]])


@login_required
async def get_policy(call: Call) -> Answer:
    offset = call.fields.timezone_offset()
    policy = await call.services.services.policy(call.logged_in, call.fields.get("service_id"))
    return Answer([policy_element(policy, offset)])


@login_required
async def set_policy(call: Call) -> Answer:
    f = call.fields
    offset = f.timezone_offset()
    keep = (f.get("keep_last") or "").strip()
    if keep and not (keep.isascii() and keep.isdigit() and len(keep) <= 6):
        raise PortalError(ErrorCode.INVALID_KEEP_LAST, "keep_last")
    excludes = f.values("exclude")
    if f.flag("clear_excludes"):
        excludes = []
    policy = await call.services.services.set_policy(
        call.logged_in, f.get("service_id"), (f.get("schedule") or "").strip() or None,
        int(keep) if keep else None, excludes if excludes or f.flag("clear_excludes") else None)
    return Answer([policy_element(policy, offset)])


CALLS: dict[str, Handler] = {"getPolicy": get_policy, "setPolicy": set_policy}
