"""Web pages the portal serves beside the API: the password reset page, which the recovery
e-mail links to (``/reset-password?recoverycode=...``), and the agent's install page, script
and wheels (:mod:`.agent`).

Rules:
- A page is one self-contained HTML file here: no external assets. Its inline ``<style>``
  and ``<script>`` run only because the Content-Security-Policy names their SHA-256, computed
  here from the file itself; everything else is refused (``default-src 'none'``), and the
  script may only talk to the portal (``connect-src 'self'``).
- A page holds no secret: the reset page's script reads the code from the address, takes it
  out of the address bar and history, and sends it with ``resetPassword`` to ``api.php``.
  Pages are never cached and never send a Referer (the address holds the code).
- Pages only render; the rules are the API's (the page shows the API's errors in words).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.S)


@cache
def page(name: str) -> tuple[str, str]:
    """The page's HTML and the Content-Security-Policy that allows exactly its inline parts."""
    html = (files(__package__) / f"{name}.html").read_text(encoding="utf-8")
    allowed = {"script": [], "style": []}
    for kind, body in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        allowed[kind].append(f"'sha256-{digest}'")
    script, style = (" ".join(allowed[kind]) or "'none'" for kind in ("script", "style"))
    policy = ("default-src 'none'; "
              f"script-src {script}; "
              f"style-src {style}; "
              "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
    return html, policy


async def reset_password(request: Request) -> HTMLResponse:
    html, policy = page("reset_password")
    return HTMLResponse(html, headers={
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    })
