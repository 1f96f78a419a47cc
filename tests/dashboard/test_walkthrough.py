"""A customer's whole way through the dashboard, in a real browser against a real
``backuprun serve`` and a real agent: register, log in, add a service, walk it to ready,
activate it, run the first backup and watch it finish, read its log, browse the recovery
point, restore a file to the server and download another. Every page passes axe-core."""

from __future__ import annotations

import tarfile

import pytest

from tests.dashboard.conftest import (FAST, SLOW, PASSWORD, add_service, api_client,
                                      register, service_of)
from tests.e2e.conftest import free_port, make_tree

pytestmark = pytest.mark.browser


def test_register_add_activate_back_up_browse_restore_download(system, new_dash, tmp_path):
    dash = new_dash()
    page = dash.page

    # the login page first; registering logs in
    dash.open()
    dash.heading("Log in")
    dash.axe("login")
    dash.shot("login")
    dash.page.get_by_role("link", name="Create an account").click()
    dash.heading("Create your BackupRun account")
    dash.axe("register")
    email = register(dash)
    page.get_by_text("No service yet").wait_for(timeout=FAST)
    dash.axe("services, empty")

    # log out, and in again with "keep me logged in": the cookie outlives the browser
    page.get_by_role("button", name="Log out").click()
    dash.heading("Log in")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Log in").click()
    dash.text("The e-mail address or the password is wrong.")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Keep me logged in").check()
    page.get_by_role("button", name="Log in").click()
    dash.heading("Your services")
    (cookie,) = dash.context.cookies()
    assert cookie["httpOnly"] and cookie["expires"] > 0

    # the wizard: an error of the API is shown next to its field, on its step
    port = free_port()
    dash.open("services/new")
    page.get_by_label("Name", exact=True).fill("web1")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Host name or IP address").fill("not a host!")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Encrypt this service's backups").check()
    assert page.get_by_text("If you lose this password, your backups are lost.").is_visible()
    dash.axe("add service, encryption step")
    dash.shot("add-service")
    page.get_by_label("Disk safe password").fill("disk safe password 1")
    page.get_by_label("The same password again").fill("disk safe password 1")
    page.get_by_label("I understand").check()
    page.get_by_role("button", name="Create the service").click()
    host = page.get_by_label("Host name or IP address")
    host.wait_for(timeout=FAST)  # back on the step of the field at fault
    assert host.get_attribute("aria-invalid") == "true"
    error = page.locator(f"#{host.get_attribute('id')}-error")
    assert "hostname or an IP address" in error.inner_text()
    assert error.get_attribute("id") in host.get_attribute("aria-describedby")
    dash.open("services")  # start again, the whole wizard
    wire_id = add_service(dash, port, encrypt="disk safe password 1")

    # activation: the walk to ready, the install method and its command
    page.locator("[role=status] .badge.ok", has_text="Ready").wait_for(timeout=SLOW)
    page.get_by_label("How do you want to install the agent?").select_option(
        "install-on-Debian")
    client = api_client(system, email)
    service = service_of(system, client, wire_id)
    command = page.locator(".command code").first
    command.wait_for(timeout=FAST)
    assert "/agent/install.sh" in command.inner_text()
    assert f"--server {service.server_url} --port {port}" in command.inner_text()
    dash.axe("activate")
    dash.shot("activate")
    page.get_by_role("button", name="Continue").click()
    dash.heading("Run the first backup of web1")
    status = client.call("getStatus").ok().root.find("account/agent")
    assert (status.get("activation_hint"), status.get("service_configured")) == \
        ("install-on-Debian", "1")

    # the agent, as the command would install it; the first backup, followed live
    root = tmp_path / "root"
    make_tree(root)
    system.start_agent(service, root)
    page.get_by_role("button", name="Back up now").click()
    dash.text("The backup finished: a new recovery point is made.", timeout=SLOW)
    assert page.get_by_text("Finished", exact=True).first.is_visible()
    dash.axe("backup finished")
    dash.shot("backup")

    # the services list: live state, alerts, disk usage; on a phone too
    dash.open("services")
    card = page.locator("article.service").first
    card.get_by_text("Backed up", exact=True).wait_for(timeout=FAST)
    assert card.get_by_text("No alerts").is_visible()
    assert "MB" in card.locator("dd").nth(2).inner_text()  # disk usage
    dash.axe("services")
    dash.shot("services")
    page.set_viewport_size({"width": 375, "height": 800})
    dash.fits()
    dash.axe("services, phone")
    dash.shot("services-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # the history, and the task's log with its levels
    card.get_by_role("link", name="History").click()
    dash.heading("History of web1")
    dash.axe("history")
    page.get_by_role("link", name="Backup of").first.click()
    dash.heading("Task log of web1")
    page.locator("table.log tbody tr").first.wait_for(timeout=FAST)
    assert page.locator("table.log").get_by_text("Task Finished").is_visible()
    assert page.locator("table.log .level").first.inner_text().strip().endswith("Info")
    dash.axe("task log")
    dash.shot("task-log")

    # the recovery point: browse, restore /etc/hosts to /restored, download /home/u
    dash.open(f"services/{wire_id}/restore")
    dash.heading("Restore from web1")
    page.get_by_role("button", name="etc/").click()
    page.get_by_role("checkbox", name="Select /etc/hosts").check()
    page.get_by_label("Restore into this folder on the server").fill("/restored")
    dash.axe("restore")
    page.get_by_role("button", name="Restore to the server").click()
    page.locator("text=Restore:").get_by_text("Finished").wait_for(timeout=SLOW)
    assert (root / "restored/etc/hosts").read_bytes() == (root / "etc/hosts").read_bytes()
    dash.shot("restore")

    page.get_by_role("button", name="All files").click()
    page.get_by_role("button", name="home/").click()
    page.get_by_role("checkbox", name="Select /home/u").check()
    page.get_by_role("checkbox", name="Select /etc/hosts").wait_for(state="detached")
    with page.expect_download(timeout=SLOW) as download:
        page.get_by_role("button", name="Download").click()
    saved = tmp_path / "download.tar"
    download.value.save_as(saved)
    with tarfile.open(saved) as archive:
        names = archive.getnames()
        assert "etc/hosts" in names  # still selected from the other folder
        assert archive.extractfile("home/u/big.bin").read() == \
            (root / "home/u/big.bin").read_bytes()
    download_form = page.locator("form", has=page.get_by_role("button", name="Download"))
    assert download_form.locator(".form-message.error").count() == 0

    # an error before the archive's first byte is the API's XML: shown in words
    page.evaluate("fetch('api.php', {method: 'POST', body: new URLSearchParams("
                  "{apiCALL: 'logout'})})")
    page.get_by_role("button", name="Download").click()
    download_form.get_by_text("Your session has ended; log in again.").wait_for(timeout=FAST)
    client.close()
