"""One location's backup server: the synchronous core behind every way of reaching it."""

from __future__ import annotations

from backuprun.backupserver.client import BackupServerError, ServiceSpec, ServiceState


class BackupServer:
    """INTERFACE SKELETON (being implemented on main): the methods below are the contract."""

    location_id: int

    # -- what the portal asks (see client.BackupServerClient) --------------------------
    def provision(self, spec: ServiceSpec) -> ServiceState: raise NotImplementedError
    def change(self, spec: ServiceSpec) -> ServiceState: raise NotImplementedError
    def terminate(self, service_id: int, grace_seconds: int) -> ServiceState:
        raise NotImplementedError
    def cancel_termination(self, service_id: int) -> ServiceState: raise NotImplementedError
    def states(self, service_ids: list[int]) -> dict[int, ServiceState]:
        raise NotImplementedError

    # -- the service's own login at serverurl (read-only view) -----------------------------
    def authenticate(self, username: str, password: str) -> int | None:
        """The service id whose login this is, or None."""
        raise NotImplementedError

    def view(self, service_id: int) -> dict:
        """What the read-only page shows: {"service": {...}, "volume": {...},
        "disksafe": {...}, "policy": {...}, "recovery_points": [...], "tasks": [...]},
        each a flat dict of display strings/numbers."""
        raise NotImplementedError

    # -- the internal API: one JSON-in, JSON-out door to the methods above ------------------
    def rpc(self, method: str, args: dict) -> dict:
        """Run ``method`` with JSON ``args``; the JSON answer. ``BackupServerError`` for a
        refusal (the internal API sends its code and message back)."""
        if method in ("provision", "change"):
            return getattr(self, method)(ServiceSpec.from_json(args["spec"])).to_json()
        if method == "terminate":
            return self.terminate(int(args["service_id"]), int(args["grace_seconds"])).to_json()
        if method == "cancel_termination":
            return self.cancel_termination(int(args["service_id"])).to_json()
        if method == "states":
            found = self.states([int(i) for i in args["service_ids"]])
            return {"states": [state.to_json() for state in found.values()]}
        raise BackupServerError("unknown_method", f"no internal call named {method!r}")
