"""The API document's PHP examples, run by php-cli + curl against a running portal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import unique_email

PHP_DIR = Path(__file__).parent / "php"
EXAMPLES = ["registerNewUser", "login", "tutorial", "addContact", "updateContactData",
            "removeContact", "updateUserData", "recoverPassword", "resetPassword"]

pytestmark = pytest.mark.skipif(shutil.which("php") is None,
                                reason="php-cli is not installed (scripts/test installs it)")


SERVICE_EXAMPLES = ["addService", "setActivationHint", "setServiceConfigured",
                    "activateAgent", "getStatus", "editService"]


def run_php(*args: str, env: dict | None = None) -> list[dict]:
    done = subprocess.run(["php", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout and "Deprecated" not in done.stdout, done.stdout
    assert "BR-DEBUG" not in done.stdout, done.stdout
    return [json.loads(line.split(" ", 1)[1]) for line in done.stdout.splitlines()
            if line.startswith("BR-RESULT ")]


def test_document_examples_unchanged(make_portal):
    """The examples exactly as printed, in document order (register first), one handle."""
    portal = make_portal()
    results = run_php(str(PHP_DIR / "run_examples.php"), portal.api_url,
                      *(str(PHP_DIR / f"{name}.php") for name in EXAMPLES))
    for r in results:
        assert (r["root"], r["first"]) == ("response", "status"), r
    outcome = [(r["example"], r["status"], r["error"]) for r in results]
    assert outcome[:3] == [
        ("registerNewUser", "ok", None),
        ("login", "ok", None),
        ("tutorial", "ok", None),  # its login
    ]
    # the tutorial's getStatus belongs to the services API; its answer must still be XML
    assert outcome[3][0] == "tutorial"
    assert outcome[4:] == [
        ("addContact", "error", "email_taken"),  # the example reuses the account's address
        ("updateContactData", "error", "contact_not_found"),  # no contact 100 here
        ("removeContact", "error", "contact_not_found"),
        ("updateUserData", "ok", None),
        ("recoverPassword", "ok", None),
        # the example posts apiCALL=addContact (a typo in the document): no email given
        ("resetPassword", "error", "missing_field"),
    ]
    assert '<name value="John Doe"></name>' in results[1]["xml"]


def test_every_call_succeeds_from_php(make_portal):
    portal = make_portal()
    email = unique_email("php")
    results = run_php(str(PHP_DIR / "flow.php"), portal.api_url, str(portal.outbox), email)
    outcome = [(r["example"], r["status"], r["error"]) for r in results]
    assert outcome == [
        ("registerNewUser", "ok", None),
        ("login", "ok", None),
        ("addContact", "ok", None),
        ("updateContactData", "ok", None),
        ("removeContact", "ok", None),
        ("updateUserData", "ok", None),
        ("recoverPassword", "ok", None),
        ("resetPassword", "ok", None),
        ("updateUserData", "ok", None),  # resetPassword logged the handle in
        ("logout", "ok", None),
        ("updateUserData", "error", "not_logged_in"),
    ]


def test_service_examples(make_portal):
    """The service examples as printed (their ids belong to nobody here), then again with
    the ids of the service the first addService made."""
    portal = make_portal()
    files = [str(PHP_DIR / f"{name}.php") for name in ["registerNewUser", "login",
                                                         *SERVICE_EXAMPLES]]
    results = run_php(str(PHP_DIR / "run_examples.php"), portal.api_url, *files)
    outcome = [(r["example"], r["status"], r["error"]) for r in results]
    assert outcome == [
        ("registerNewUser", "ok", None),
        ("login", "ok", None),
        ("addService", "ok", None),
        ("setActivationHint", "error", "service_not_found"),
        ("setServiceConfigured", "error", "service_not_found"),
        ("activateAgent", "error", "service_not_found"),
        ("getStatus", "ok", None),
        ("editService", "error", "service_not_found"),
    ]
    assert '<agent id="1" service_id="V1" readonly="0" name="servername"' in results[2]["xml"]
    again = run_php(str(PHP_DIR / "run_examples.php"), portal.api_url,
                    *(str(PHP_DIR / f"{name}.php") for name in ["login", *SERVICE_EXAMPLES]),
                    env={"BR_REPLACE": json.dumps({"'662'": "'1'", "'V16428'": "'V1'"})})
    assert [(r["example"], r["status"], r["error"]) for r in again] == [
        ("login", "ok", None), *((name, "ok", None) for name in SERVICE_EXAMPLES)]
    status = again[5]["xml"]
    assert 'service_id="V1"' in status and 'activation_hint="linux-express-install"' in status
