// The account: contact data, the password, and e-mail notices of failed backups, each its
// own form (updateUserData changes only the fields sent); getUserData fills them in.
import {call} from "../api.js";
import {h} from "../dom.js";
import {FieldError, checkbox, field, formMessage, onSubmit, say} from "../forms.js";
import * as session from "../session.js";

export async function page(ctx) {
  const me = await session.refresh();
  const contact = h("form", {novalidate: true},
    field("Name", {name: "name", required: true, value: me.name, autocomplete: "name"}),
    field("E-mail address", {name: "email", type: "email", required: true, value: me.email,
                             autocomplete: "email"}, {hint: "You log in with it."}),
    field("Fixed phone", {name: "fixed-phone", type: "tel", value: me["fixed-phone"]}),
    field("Mobile phone", {name: "mobile", type: "tel", value: me.mobile}),
    field("Second mobile phone", {name: "mobile2", type: "tel", value: me.mobile2}),
    formMessage(), h("button", {type: "submit", class: "primary"}, "Save the contact data"));
  onSubmit(contact, async (v) => {
    await call("updateUserData", v);
    await session.refresh();
    say(contact, "Saved.");
  });

  const password = h("form", {novalidate: true},
    field("New password", {name: "password", type: "password", autocomplete: "new-password",
                           required: true}, {hint: "At least 8 characters. Your other " +
                                                   "sessions are logged out."}),
    field("The same password again", {name: "again", type: "password", required: true,
                                      autocomplete: "new-password"}),
    formMessage(), h("button", {type: "submit", class: "primary"}, "Change the password"));
  onSubmit(password, async (v) => {
    if (!v.password) throw new FieldError("password", "Type the new password.");
    if (v.password !== v.again) throw new FieldError("again", "The two passwords differ.");
    await call("updateUserData", {password: v.password});
    password.reset();
    say(password, "The password is changed.");
  });

  const notices = h("form", {novalidate: true},
    checkbox("E-mail me when a backup fails", {name: "notify", checked: me.notify === "1"}),
    field("Send the notices to", {name: "notify_email", type: "email",
                                  value: me.notify_email},
          {hint: "Leave empty to use your login address."}),
    formMessage(), h("button", {type: "submit", class: "primary"}, "Save the notices"));
  onSubmit(notices, async (v) => {
    await call("updateUserData", {notify: v.notify, notify_email: v.notify_email});
    say(notices, "Saved.");
  });

  return h("section", {},
    h("h1", {}, "Your account"),
    me.subuser && h("p", {}, "You are a subuser: these settings are your own login's."),
    h("div", {class: "two"},
      h("section", {class: "card"}, h("h2", {}, "Contact data"), contact),
      h("div", {},
        h("section", {class: "card"}, h("h2", {}, "Password"), password),
        h("section", {class: "card"}, h("h2", {}, "Failure notices"), notices))));
}
