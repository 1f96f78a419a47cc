"""The client's pieces without a server: the wire (httpx's MockTransport), the session file,
following a task, and a download that breaks off."""

from __future__ import annotations

import json
import stat
from urllib.parse import parse_qsl
from xml.etree.ElementTree import fromstring

import httpx
import pytest

from backuprun.client import session, tasks, transfer, waiting
from backuprun.client.api import ApiError, Portal, Unreachable, api_url, encode
from backuprun.client.exitcodes import TASK_CANCELLED, TASK_ERROR, UserError

URL = "http://portal.test/api.php"
OK = b'<?xml version="1.0" encoding="UTF-8"?>\n<response><status value="ok"></status></response>'
ERROR = (b'<response><status value="error"></status><error code="service_not_found" '
         b'message="This account has no service with that id." field="service_id"></error>'
         b'</response>')
XML = {"content-type": "text/xml; charset=utf-8"}


def portal_with(handler) -> Portal:
    return Portal(URL, {"backuprun_session": "tok"}, transport=httpx.MockTransport(handler))


def test_addresses_and_forms():
    assert api_url("https://h:8443") == "https://h:8443/api.php"
    assert api_url("https://h/x/api.php/") == "https://h/x/api.php"
    with pytest.raises(ValueError):
        api_url("h:8080")
    body = encode("restoreFiles", {"service_id": "S1", "path": ["/a b", "/c&d"],
                                   "overwrite": False, "target": None})
    assert body == b"apiCALL=restoreFiles&service_id=S1&path%5B%5D=%2Fa+b&path%5B%5D=%2Fc%26d" \
                   b"&overwrite=0"
    assert parse_qsl(body.decode())[2:4] == [("path[]", "/a b"), ("path[]", "/c&d")]


def test_answers_errors_and_cookies():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        fields = dict(parse_qsl(request.content.decode()))
        if fields["apiCALL"] == "login":
            return httpx.Response(200, headers={**XML, "set-cookie": "backuprun_session=new; "
                                                "HttpOnly; Path=/; SameSite=lax"}, content=OK)
        if fields["apiCALL"] == "getStatus":
            return httpx.Response(200, headers=XML, content=ERROR)
        if fields["apiCALL"] == "moved":
            return httpx.Response(301, headers={"location": "https://portal.test/api.php"})
        return httpx.Response(404, headers={"content-type": "text/html"}, content=b"<html>")

    portal = portal_with(handler)
    portal.login("a@example.com", "pw")
    assert portal.cookies == {"backuprun_session": "new"}
    assert "cookie" not in seen[0].headers  # login starts from no session
    with pytest.raises(ApiError) as caught:
        portal.call("getStatus")
    assert seen[1].headers["cookie"] == "backuprun_session=new"
    assert seen[1].headers["content-type"] == "application/x-www-form-urlencoded"
    assert (caught.value.code, caught.value.field) == ("service_not_found", "service_id")
    assert str(caught.value).startswith("service_not_found: This account")
    with pytest.raises(Unreachable, match="does not answer as a BackupRun api.php"):
        portal.call("other")
    with pytest.raises(Unreachable, match="redirects to https://portal.test/api.php"):
        portal.call("moved")


def test_nothing_listening_is_unreachable():
    def handler(request):
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(Unreachable, match="cannot reach http://portal.test/api.php"):
        portal_with(handler).call("getStatus")


def test_session_file_is_private_and_checked(tmp_path):
    path = tmp_path / "a" / "session.json"
    session.save(path, session.Session(URL, "a@example.com", {"c": "v"}))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert session.load(path).cookies == {"c": "v"}
    assert list(path.parent.iterdir()) == [path]  # no temporary file left
    path.write_text("{not json")
    with pytest.raises(session.SessionFileError, match="not a BackupRun session"):
        session.load(path)
    assert session.load(tmp_path / "none.json") is None


def _agent(task: str, history: list) -> str:
    return (f'<response><status value="ok"></status><agent service_id="S1" '
            f'alert_history="{json.dumps(history).replace(chr(34), "&quot;")}">'
            f'<server></server>{task}</agent></response>')


def test_waiting_reads_the_task_then_the_history():
    answers = iter([
        _agent('<task taskstate="QUEUED" taskexecutioncontextid="t1" type="backup" files="0" '
               'bytes="0" bytes_read="0"></task>', []),
        _agent('<task taskstate="RUNNING" taskexecutioncontextid="t1" type="backup" '
               'files="5" bytes="900" bytes_read="100"></task>', []),
        # a newer task took the <task>: ours is found in alert_history
        _agent('<task taskstate="QUEUED" taskexecutioncontextid="t2" type="restore"></task>',
               [{"taskExecutionContextId": "t2", "state": "QUEUED", "type": "restore"},
                {"taskExecutionContextId": "t1", "state": "CANCELLED", "type": "backup",
                 "files": 7, "bytes": 1000}]),
    ])
    portal = portal_with(lambda r: httpx.Response(200, headers=XML, content=next(answers)))
    seen = []
    view = tasks.wait(portal, "S1", "t1", seen.append, sleep=lambda s: None)
    assert [v.state for v in seen] == ["QUEUED", "RUNNING", "CANCELLED"]
    assert (seen[1].files, seen[1].bytes, seen[1].bytes_read) == (5, 900, 100)
    assert (view.files, view.bytes) == (7, 1000)
    with pytest.raises(UserError) as caught:
        waiting.report(view, "backup", [], json_out=False, quiet=True)
    assert caught.value.code == TASK_CANCELLED
    with pytest.raises(UserError) as caught:
        waiting.report(tasks.TaskView("t1", "backup", "ERROR"), "backup", [], False, True)
    assert caught.value.code == TASK_ERROR
    agent = fromstring(_agent("", []).encode()).find("agent")
    assert tasks.find_task(agent, "t1") is None


def test_a_download_that_breaks_off_leaves_nothing(tmp_path):
    def pieces():
        yield b"x" * 1000
        raise httpx.ReadError("connection reset")

    portal = portal_with(lambda r: httpx.Response(
        200, headers={"content-type": "application/x-tar"}, content=pieces()))
    target = tmp_path / "out.tar"
    target.write_bytes(b"an older file")
    with pytest.raises(Unreachable, match="broke off after 1000 bytes"):
        transfer.download_archive(portal, "S1", "p" * 32, ["/etc"], "tar", str(target), True)
    assert target.read_bytes() == b"an older file"  # untouched
    assert sorted(tmp_path.iterdir()) == [target]  # the partial file is gone


def test_a_download_refused_creates_nothing(tmp_path):
    portal = portal_with(lambda r: httpx.Response(200, headers=XML, content=ERROR))
    with pytest.raises(ApiError):
        transfer.download_archive(portal, "S1", "p" * 32, ["/x"], "zip", str(tmp_path), True)
    assert list(tmp_path.iterdir()) == []
