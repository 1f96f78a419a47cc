"""A backup server in another process, reached over the internal API (:mod:`internal_api`).

Rules:
- Every call is ``POST {url}/internal/v1/{method}`` over mutual TLS: this side presents the
  portal's identity and trusts exactly the backup server's pinned certificate
  (``tls.client_context``), so neither side can be impersonated by a key it did not pin.
- A refusal (409) becomes the ``BackupServerError`` the server raised, code and message.
- A connection that cannot be made or breaks (refused, timed out, a failed handshake: the
  server's certificate is not the pinned one, or it refused ours) is ``Unreachable``, naming
  the URL and the cause. Any other answer is a ``BackupServerError("internal_error")``.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from backuprun.backupserver.client import (BackupServerError, ServiceSpec, ServiceState,
                                           Unreachable)
from backuprun.backupserver.internal_api import DOWNLOAD, PREFIX
from backuprun.transport.tls import Identity, client_context

TIMEOUT_SECONDS = 30.0


class RemoteBackupServer:
    """The :class:`~backuprun.backupserver.client.BackupServerClient` of a remote server."""

    def __init__(self, url: str, identity: Identity, pinned_server_cert: Path | bytes,
                 timeout: float = TIMEOUT_SECONDS):
        self.url = url.rstrip("/")
        self.timeout = timeout
        context: ssl.SSLContext = client_context(identity, pinned_server_cert)
        self._http = httpx.AsyncClient(base_url=self.url, verify=context, timeout=timeout,
                                       trust_env=False)

    async def provision(self, spec: ServiceSpec) -> ServiceState:
        return ServiceState.from_json(await self._call("provision", spec=spec.to_json()))

    async def change(self, spec: ServiceSpec) -> ServiceState:
        return ServiceState.from_json(await self._call("change", spec=spec.to_json()))

    async def terminate(self, service_id: int, grace_seconds: int) -> ServiceState:
        return ServiceState.from_json(await self._call(
            "terminate", service_id=service_id, grace_seconds=grace_seconds))

    async def release(self, service_id: int) -> None:
        await self._call("release", service_id=service_id)

    async def cancel_termination(self, service_id: int) -> ServiceState:
        return ServiceState.from_json(await self._call("cancel_termination",
                                                       service_id=service_id))

    async def states(self, service_ids: list[int]) -> dict[int, ServiceState]:
        answer = await self._call("states", service_ids=list(service_ids))
        found = (ServiceState.from_json(item) for item in answer["states"])
        return {state.service_id: state for state in found}

    async def walk_log(self, service_id: int) -> list[dict]:
        return (await self._call("walk_log", service_id=service_id))["steps"]

    async def run_policy(self, service_id: int) -> dict:
        return await self._call("run_policy", service_id=service_id)

    async def task_detail(self, task_id: str) -> dict:
        return await self._call("task_detail", task_id=task_id)

    async def failed_tasks(self, since: str) -> list[dict]:
        return (await self._call("failed_tasks", since=since))["tasks"]

    async def policy(self, service_id: int) -> dict:
        return await self._call("policy", service_id=service_id)

    async def set_policy(self, service_id: int, schedule: str | None, keep_last: int | None,
                         excludes: list[str] | None) -> dict:
        return await self._call("set_policy", service_id=service_id, schedule=schedule,
                                keep_last=keep_last, excludes=excludes)

    async def recovery_points(self, service_id: int) -> list[dict]:
        return (await self._call("recovery_points", service_id=service_id))["points"]

    async def browse(self, service_id: int, point_id: str, path: str) -> list[dict]:
        return (await self._call("browse", service_id=service_id, point_id=point_id,
                                 path=path))["entries"]

    async def restore(self, service_id: int, point_id: str, paths: list[str], target: str,
                      overwrite: bool) -> dict:
        return await self._call("restore", service_id=service_id, point_id=point_id,
                                paths=paths, target=target, overwrite=overwrite)

    async def download(self, service_id: int, point_id: str, paths: list[str],
                       fmt: str) -> AsyncIterator[bytes]:
        args = {"service_id": service_id, "point_id": point_id, "paths": paths, "fmt": fmt}
        request = self._http.build_request("POST", PREFIX + DOWNLOAD, json=args,
                                           timeout=httpx.Timeout(self.timeout, read=None))
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        try:
            if response.status_code != 200:
                await response.aread()
                self._refusal(response, DOWNLOAD)
            async for piece in response.aiter_raw():
                yield piece
        finally:
            await response.aclose()

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, **args) -> dict:
        try:
            response = await self._http.post(PREFIX + method, json=args)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code == 200:
            return response.json()
        self._refusal(response, method)

    def _unreachable(self, exc: Exception) -> Unreachable:
        return Unreachable(f"backup server at {self.url} unreachable: "
                           f"{type(exc).__name__}: {exc or 'no detail'}")

    def _refusal(self, response: httpx.Response, method: str):
        where = f"{self.url}{PREFIX}{method}"
        error = _error_of(response)
        if response.status_code == 409 and error:
            raise BackupServerError(error.get("code", "refused"), error.get("message", ""))
        raise BackupServerError("internal_error", f"{where} answered {response.status_code}: "
                                f"{error.get('message', '') if error else response.text[:200]}")


def _error_of(response: httpx.Response) -> dict | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error if isinstance(error, dict) else None
