"""``apiCALL`` handlers for accounts: section 2 of the API document, plus ``logout``.

Field names are the document's, including its mixed spellings: ``addContact`` and
``updateContactData`` take ``FixedPhone``, ``Mobile2`` and ``telephone``; ``updateUserData``
takes ``fixed-phone``, ``mobile`` and ``mobile2``. Calls of ours that read what those write
(``getUserData``, ``getContacts``, which the dashboard needs) answer under the same names,
attribute names lower case as on the rest of the wire. In the update calls an empty ``password``
means "unchanged" (a form that always posts every field).
"""

from __future__ import annotations

from backuprun.portal.calls.base import Answer, Call, Handler, login_required
from backuprun.portal.wire import element

ROLES = {"4": 4, "2": 2, "1": 1}


async def register_new_user(call: Call) -> Answer:
    f = call.fields
    await call.services.accounts.register(f.get("email"), f.get("name"), f.get("password"),
                                          call.address)
    return Answer()


async def login(call: Call) -> Answer:
    f = call.fields
    done = await call.services.accounts.login(
        f.get("email"), f.get("password"), f.flag("remember"), call.address, call.token)
    account = done.account
    user = element("user", children=[
        element("name", {"value": account.name}),
        element("email", {"value": account.email}),
        element("special_locations", {"value": account.special_locations}),
    ])
    return Answer([user], new_session=(done.session.token, done.session.max_age))


async def logout(call: Call) -> Answer:
    await call.services.accounts.logout(call.token)
    return Answer(end_session=True)


@login_required
async def add_contact(call: Call) -> Answer:
    f = call.fields
    contact = await call.services.accounts.add_contact(
        call.logged_in, email=f.get("email"), name=f.get("name"), password=f.get("password"),
        role=f.choice("role", ROLES, default=4), fixed_phone=f.get("FixedPhone"),
        mobile=f.get("telephone"), mobile2=f.get("Mobile2"))
    return Answer([element("contact", {"id": contact.id})])


@login_required
async def update_contact_data(call: Call) -> Answer:
    f = call.fields
    await call.services.accounts.update_contact(
        call.logged_in, f.identifier("contact_id"), email=f.get("email"), name=f.get("name"),
        password=f.get("password") or None, fixed_phone=f.get("FixedPhone"),
        mobile=f.get("telephone"), mobile2=f.get("Mobile2"))
    return Answer()


@login_required
async def remove_contact(call: Call) -> Answer:
    await call.services.accounts.remove_contact(
        call.logged_in, call.fields.identifier("contact_id"))
    return Answer()


@login_required
async def update_user_data(call: Call) -> Answer:
    f = call.fields
    await call.services.accounts.update_user(
        call.logged_in, email=f.get("email"), name=f.get("name"),
        fixed_phone=f.get("fixed-phone"), mobile=f.get("mobile"), mobile2=f.get("mobile2"),
        notify=f.flag("notify", default=None), notify_email=f.get("notify_email"),
        password=f.get("password") or None)
    return Answer()


@login_required
async def get_user_data(call: Call) -> Answer:
    account = await call.services.accounts.own_account(call.logged_in)
    values = {"name": account.name, "email": account.email,
              "special_locations": account.special_locations,
              "subuser": account.is_subuser, "fixed-phone": account.fixed_phone,
              "mobile": account.mobile, "mobile2": account.mobile2, "notify": account.notify,
              "notify_email": account.notify_email}
    return Answer([element("user", children=[element(name, {"value": value})
                                             for name, value in values.items()])])


@login_required
async def get_contacts(call: Call) -> Answer:
    contacts = await call.services.accounts.contacts(call.logged_in)
    return Answer([element("contact", {
        "id": c.id, "email": c.email, "name": c.name, "role": c.role,
        "telephone": c.mobile, "mobile2": c.mobile2, "fixedphone": c.fixed_phone})
        for c in contacts])


async def recover_password(call: Call) -> Answer:
    await call.services.accounts.recover_password(call.fields.get("email"), call.address)
    return Answer()


async def reset_password(call: Call) -> Answer:
    f = call.fields
    done = await call.services.accounts.reset_password(
        f.get("recoverycode"), f.get("password"), f.flag("remember"), call.address)
    return Answer(new_session=(done.session.token, done.session.max_age))


CALLS: dict[str, Handler] = {
    "registerNewUser": register_new_user,
    "login": login,
    "addContact": add_contact,
    "updateContactData": update_contact_data,
    "removeContact": remove_contact,
    "updateUserData": update_user_data,
    "getUserData": get_user_data,
    "getContacts": get_contacts,
    "recoverPassword": recover_password,
    "resetPassword": reset_password,
    "logout": logout,
}
