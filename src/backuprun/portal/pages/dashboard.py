"""The dashboard's files: ``GET /`` is its page, ``GET /dashboard/NAME`` its scripts and
styles (``backuprun/portal/dashboard/``, shipped as package data). The dashboard itself runs
in the browser and speaks to the portal through ``api.php`` only (docs/dashboard.md).

Rules:
- Only the files of that folder are served, by their names (``views/x.js`` included);
  anything else, ``..`` and hidden names included, is the app's XML 404.
- No inline script or style anywhere: the policy is ``'self'`` only, for every file.
- The page is revalidated on every load (``no-cache``), as are the files, by their ETag
  (their SHA-256): a new release is picked up at once, an unchanged file costs a 304.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import PurePosixPath

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

FOLDER = "dashboard"
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; form-action 'self'; frame-src 'self'; base-uri 'none'; "
          "frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": POLICY, "Cache-Control": "no-cache",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "X-Frame-Options": "DENY"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def assets() -> dict[str, Asset]:
    """Every file of the dashboard's folder, by its path inside it."""
    found: dict[str, Asset] = {}

    def walk(folder, prefix: str) -> None:
        for entry in folder.iterdir():
            name = prefix + entry.name
            if entry.is_dir():
                walk(entry, name + "/")
            elif PurePosixPath(name).suffix in MEDIA_TYPES:
                body = entry.read_bytes()
                found[name] = Asset(body, MEDIA_TYPES[PurePosixPath(name).suffix],
                                    '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    walk(files(__package__).parent / FOLDER, "")
    return found


def _answer(request: Request, asset: Asset) -> Response:
    headers = {**HEADERS, "ETag": asset.etag}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


async def index(request: Request) -> Response:
    return _answer(request, assets()["index.html"])


async def asset(request: Request) -> Response:
    found = assets().get(request.path_params["name"])
    if found is None:
        raise HTTPException(404)  # the app's not_found answer
    return _answer(request, found)
