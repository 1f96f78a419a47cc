"""Installing an agent, as the portal serves it (the rules are in
:mod:`backuprun.portal.agentinstall` and :mod:`backuprun.portal.agentwheels`):

- ``GET /agent/install?hint=HINT&server=https://SERVERIP:HTTPS_PORT&port=1167``: the steps
  of one activation hint as a page (everything escaped; 400 with the reason for a wrong
  parameter).
- ``GET /agent/install.sh``: the install script, the portal's address filled in
  (``text/plain``, to read in a browser before running it).
- ``GET /agent/wheels/``: the wheelhouse as a page of links with their SHA-256, which
  ``pip --find-links`` reads; ``GET /agent/wheels/NAME.whl``: one wheel. Only the wheels
  listed are served: any other name, a path or ``..`` is the app's 404.
"""

from __future__ import annotations

import html
from urllib.parse import quote

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

from backuprun.config import Settings
from backuprun.portal import agentinstall, agentwheels
from backuprun.portal.pages import page

_PLAIN_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
_LISTING_POLICY = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'"


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _portal_url(request: Request) -> str:
    return agentinstall.portal_url(_settings(request), request.url.scheme,
                                   request.headers.get("host"))


async def install_page(request: Request) -> HTMLResponse:
    query = request.query_params
    try:
        hint = agentinstall.canonical_hint(query.get("hint", ""))
        server = agentinstall.server_address(query.get("server", ""))
        port = agentinstall.agent_port(query.get("port"))
    except ValueError as exc:
        body = (f'<p class="error">{html.escape(str(exc))}</p><p>Give <code>hint</code> (an '
                "activation hint), <code>server</code> (https://SERVERIP:HTTPS_PORT) and "
                "<code>port</code> (the agent's, default 1167).</p>")
        return _page("Install the BackupRun agent", body, 400)
    steps = agentinstall.install_steps(hint, _portal_url(request), server, port)
    items = "\n".join(f"<li>{_with_code(step)}</li>" for step in steps)
    return _page("Install the BackupRun agent", f"<p>Method: {html.escape(hint)}</p>\n"
                                                 f"<ol>\n{items}\n</ol>")


def _with_code(step: str) -> str:
    """A step as HTML: escaped, its `commands` as code."""
    parts = step.split("`")
    return "".join(f"<code>{html.escape(part)}</code>" if i % 2 else html.escape(part)
                   for i, part in enumerate(parts))


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text, policy = page("agent_install")
    text = text.replace("@@TITLE@@", html.escape(title)).replace("@@BODY@@", body)
    return HTMLResponse(text, status, headers={
        "Content-Security-Policy": policy, "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"})


async def install_script(request: Request) -> Response:
    script = agentinstall.install_script(_portal_url(request))
    return PlainTextResponse(script, headers={
        **_PLAIN_HEADERS, "Content-Disposition": 'inline; filename="install.sh"'})


async def wheel_index(request: Request) -> HTMLResponse:
    folder = _settings(request).resolved_agent_wheels_dir
    found = await anyio.to_thread.run_sync(agentwheels.wheels, folder)
    links = "\n".join(f'<a href="{quote(w.name)}#sha256={w.sha256}">{html.escape(w.name)}'
                      f"</a><br>" for w in found)
    text = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<title>BackupRun agent wheels</title></head>\n<body>\n"
            f"<h1>BackupRun agent wheels</h1>\n{links}\n</body></html>\n")
    return HTMLResponse(text, headers={**_PLAIN_HEADERS,
                                       "Content-Security-Policy": _LISTING_POLICY})


async def wheel_file(request: Request) -> Response:
    folder = _settings(request).resolved_agent_wheels_dir
    name = request.path_params["name"]
    path = await anyio.to_thread.run_sync(agentwheels.wheel_file, folder, name)
    if path is None:
        raise HTTPException(404)  # the app's not_found answer
    return FileResponse(path, media_type="application/octet-stream", filename=name,
                        headers=_PLAIN_HEADERS)
