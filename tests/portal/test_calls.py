"""Every account call over HTTP, in both encodings, answers in the API document's shapes."""

from __future__ import annotations

from xml.etree import ElementTree

from .conftest import PASSWORD, read_outbox, recovery_code, unique_email

# The answers as the API document prints them (section 2).
DOC_OK = '<response><status value="ok"></status></response>'
DOC_LOGIN = """<response>
  <status value="ok"></status>
  <user>
    <name value="username"></name>
    <email value="user@email.com"></email>
    <special_locations value="0"></special_locations>
  </user>
</response>"""
DOC_ADD_CONTACT = """<response>
    <status value="ok"></status>
    <contact id="20"></contact>
</response>"""


def shape(el: ElementTree.Element):
    """Tags, attribute names in order, and children: what the wire must match."""
    return (el.tag, list(el.attrib), [shape(child) for child in el])


def assert_shape(answer, doc: str):
    assert shape(answer.root) == shape(ElementTree.fromstring(doc)), answer.text
    # explicit end tags, as in the document, and nothing self-closed
    assert "/>" not in answer.text
    assert answer.response.headers["content-type"].startswith("text/xml")


def test_register_new_user(api):
    answer = api.call("registerNewUser", name="John Doe", email=unique_email(),
                      password="userpassword").ok()
    assert_shape(answer, DOC_OK)
    assert '<status value="ok"></status>' in answer.text


def test_login_answers_user(api):
    email = api.register(name="Jane Roe")
    answer = api.login(email).ok()
    assert_shape(answer, DOC_LOGIN)
    assert answer.root.find("user/name").get("value") == "Jane Roe"
    assert answer.root.find("user/email").get("value") == email
    assert answer.root.find("user/special_locations").get("value") == "0"
    assert api.is_logged_in()


def test_login_email_is_case_insensitive(api):
    email = api.register()
    api.login(email.upper()).ok()


def test_add_contact_answers_id(api):
    api.new_account()
    answer = api.call("addContact", email=unique_email("sub"), name="John Doe",
                      password="password", role="4").ok()
    assert_shape(answer, DOC_ADD_CONTACT)
    assert int(answer.root.find("contact").get("id")) > 0


def test_add_contact_all_fields_and_deprecated_roles(api, new_api):
    api.new_account()
    for role in ("4", "2", "1"):
        sub_email = unique_email("sub")
        api.add_contact(sub_email, role=role, FixedPhone="+40 21 000", Mobile2="0722",
                        telephone="0733")
        sub = new_api()
        sub.login(sub_email).ok()  # subusers log in with their own e-mail and password


def test_update_contact_data(api, new_api):
    api.new_account()
    sub_email = unique_email("sub")
    contact_id = api.add_contact(sub_email)
    answer = api.call("updateContactData", contact_id=contact_id, telephone="55555555",
                      password="new password").ok()
    assert_shape(answer, DOC_OK)
    sub = new_api()
    sub.login(sub_email, PASSWORD).fails("wrong_credentials")
    sub.login(sub_email, "new password").ok()
    new_email = unique_email("renamed")
    api.call("updateContactData", contact_id=contact_id, email=new_email, name="Renamed",
             FixedPhone="1", Mobile2="2").ok()
    answer = sub.login(new_email, "new password").ok()
    assert answer.root.find("user/name").get("value") == "Renamed"


def test_remove_contact(api, new_api):
    api.new_account()
    sub_email = unique_email("sub")
    contact_id = api.add_contact(sub_email)
    sub = new_api()
    sub.login(sub_email).ok()
    answer = api.call("removeContact", contact_id=contact_id).ok()
    assert_shape(answer, DOC_OK)
    assert not sub.is_logged_in()  # its sessions went with it
    sub.login(sub_email).fails("wrong_credentials")
    api.call("removeContact", contact_id=contact_id).fails("contact_not_found")


def test_update_user_data(api, new_api):
    api.new_account()
    new_email = unique_email("moved")
    answer = api.call("updateUserData", name="John Doe", email=new_email,
                      **{"fixed-phone": "55555555"}).ok()
    assert_shape(answer, DOC_OK)
    api.call("updateUserData", mobile="0722", mobile2="0733", notify="0",
             notify_email=unique_email("notes")).ok()
    other = new_api()
    answer = other.login(new_email.upper()).ok()
    assert answer.root.find("user/email").get("value") == new_email
    assert answer.root.find("user/name").get("value") == "John Doe"


def test_update_user_password(api, new_api):
    email = api.new_account()
    api.call("updateUserData", password="a brand new password").ok()
    assert api.is_logged_in()  # the session that changed it stays
    fresh = new_api()
    fresh.login(email).fails("wrong_credentials")
    fresh.login(email, "a brand new password").ok()


def test_subuser_updates_own_data(api, new_api):
    api.new_account()
    sub_email = unique_email("sub")
    api.add_contact(sub_email)
    sub = new_api()
    sub.login(sub_email).ok()
    sub.call("updateUserData", name="Sub Renamed", mobile="1").ok()
    assert new_api().login(sub_email).ok().root.find("user/name").get("value") == "Sub Renamed"


def test_recover_and_reset_password(api, portal, new_api):
    email = api.register()
    answer = api.call("recoverPassword", email=email).ok()
    assert_shape(answer, DOC_OK)
    [message] = read_outbox(portal.outbox, email)
    assert message["Subject"] == "BackupRun password recovery"
    assert portal.url + "/reset-password?recoverycode=" in message.get_content()
    code = recovery_code(message)
    fresh = new_api()
    answer = fresh.call("resetPassword", recoverycode=code, password="reset password",
                        remember="1").ok()
    assert_shape(answer, DOC_OK)
    assert fresh.is_logged_in()  # resetPassword logs in
    new_api().login(email, "reset password").ok()
    new_api().login(email, PASSWORD).fails("wrong_credentials")


def test_logout(api):
    api.new_account()
    answer = api.call("logout").ok()
    assert_shape(answer, DOC_OK)
    assert not api.is_logged_in()
    api.call("logout").ok()  # logging out twice is harmless


DOC_USER_DATA = """<response>
  <status value="ok"></status>
  <user>
    <name value="John Doe"></name>
    <email value="id@email.com"></email>
    <special_locations value="0"></special_locations>
    <subuser value="0"></subuser>
    <fixed-phone value=""></fixed-phone>
    <mobile value="+40 700 000 000"></mobile>
    <mobile2 value=""></mobile2>
    <notify value="1"></notify>
    <notify_email value=""></notify_email>
  </user>
</response>"""
DOC_CONTACTS = """<response>
  <status value="ok"></status>
  <contact id="20" email="ops@email.com" name="Ops" role="4" telephone="" mobile2=""
           fixedphone=""></contact>
</response>"""


def test_get_user_data_reads_back_update_user_data(api, new_api):
    """getUserData (ours, docs/api.md) answers what updateUserData wrote, under its names."""
    email = api.new_account()
    answer = api.call("getUserData").ok()
    assert_shape(answer, DOC_USER_DATA)
    assert answer.root.find("user/email").get("value") == email
    assert answer.root.find("user/notify").get("value") == "1"
    api.call("updateUserData", mobile="0722", notify="0", notify_email="n@example.com",
             **{"fixed-phone": "55"}).ok()
    user = api.call("getUserData").ok().root.find("user")
    values = {child.tag: child.get("value") for child in user}
    assert values["mobile"] == "0722" and values["fixed-phone"] == "55"
    assert values["notify"] == "0" and values["notify_email"] == "n@example.com"
    assert values["subuser"] == "0"
    sub_email = unique_email("sub")
    api.add_contact(sub_email)
    sub = new_api()
    sub.login(sub_email).ok()
    assert sub.call("getUserData").ok().root.find("user/subuser").get("value") == "1"
    new_api().call("getUserData").fails("not_logged_in")


def test_get_contacts_lists_the_accounts_subusers(api, new_api):
    api.new_account()
    assert api.call("getContacts").ok().root.findall("contact") == []
    first = api.add_contact(unique_email("a"), name="First", telephone="0722",
                            Mobile2="0733", FixedPhone="021")
    second_email = unique_email("b")
    second = api.add_contact(second_email, name="Second")
    answer = api.call("getContacts").ok()
    contacts = answer.root.findall("contact")
    assert [c.get("id") for c in contacts] == [str(first), str(second)]
    assert shape(contacts[0]) == shape(ElementTree.fromstring(DOC_CONTACTS).find("contact"))
    assert (contacts[0].get("telephone"), contacts[0].get("mobile2"),
            contacts[0].get("fixedphone"), contacts[0].get("role")) == ("0722", "0733", "021", "4")
    sub = new_api()
    sub.login(second_email).ok()
    sub.call("getContacts").fails("not_allowed")
    other = new_api()
    other.new_account()
    assert other.call("getContacts").ok().root.findall("contact") == []
