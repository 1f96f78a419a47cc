// Logged out: log in, register, recover the password. The e-mail's link opens the portal's
// reset page (/reset-password), which leads back here once the password is set.
import {call} from "../api.js";
import {h} from "../dom.js";
import {FieldError, checkbox, field, formMessage, onSubmit, say} from "../forms.js";
import * as session from "../session.js";

function card(title, intro, form, footer) {
  return h("section", {class: "card narrow"}, h("h1", {}, title), intro && h("p", {}, intro),
           form, footer && h("p", {class: "links"}, footer));
}

export function login(ctx) {
  const form = h("form", {novalidate: true},
    field("E-mail address", {name: "email", type: "email", autocomplete: "username",
                             required: true}),
    field("Password", {name: "password", type: "password", autocomplete: "current-password",
                       required: true}),
    checkbox("Keep me logged in on this device (30 days)", {name: "remember"}),
    formMessage(),
    h("button", {type: "submit", class: "primary"}, "Log in"));
  onSubmit(form, async (v) => {
    await session.logIn(v.email, v.password, v.remember === "1");
    await ctx.sessionChanged("services");
  });
  return card("Log in", null, form, [
    h("a", {href: "#/recover"}, "Forgot your password?"), " · ",
    h("a", {href: "#/register"}, "Create an account")]);
}

export function register(ctx) {
  const form = h("form", {novalidate: true},
    field("Your name", {name: "name", autocomplete: "name", required: true}),
    field("E-mail address", {name: "email", type: "email", autocomplete: "email",
                             required: true}),
    field("Password", {name: "password", type: "password", autocomplete: "new-password",
                       required: true}, {hint: "At least 8 characters."}),
    field("The same password again", {name: "again", type: "password",
                                      autocomplete: "new-password", required: true}),
    formMessage(),
    h("button", {type: "submit", class: "primary"}, "Create the account"));
  onSubmit(form, async (v) => {
    if (v.password !== v.again) throw new FieldError("again", "The two passwords differ.");
    await call("registerNewUser", {name: v.name, email: v.email, password: v.password});
    await session.logIn(v.email, v.password, false);
    await ctx.sessionChanged("services");
  });
  return card("Create your BackupRun account", null, form,
              ["Have an account already? ", h("a", {href: "#/login"}, "Log in")]);
}

export function recover() {
  const form = h("form", {novalidate: true},
    field("E-mail address", {name: "email", type: "email", autocomplete: "email",
                             required: true}),
    formMessage(),
    h("button", {type: "submit", class: "primary"}, "Send me a link"));
  onSubmit(form, async (v) => {
    await call("recoverPassword", {email: v.email});
    say(form, "If an account has this address, a link to choose a new password is on its " +
              "way. It works once, for one hour.");
  });
  return card("Recover your password",
              "We send a link to choose a new password to your account's e-mail address.",
              form, [h("a", {href: "#/login"}, "Back to the login")]);
}
