// The add-service wizard: what to protect, where, and whether to encrypt, one step at a
// time; addService at the end, then the activation page. An error of the API opens the step
// of the field it names.
import {attributes, call} from "../api.js";
import {h, uid} from "../dom.js";
import {FieldError, checkbox, field, formMessage, onSubmit, showError} from "../forms.js";
import {TYPES} from "../words.js";

const STEP_OF = {type: 0, name: 0, agent: 1, agent_port: 1, location: 2, encrypt: 3,
                 password: 3, again: 3, understood: 3};

function radios(legend, name, options, checked) {
  return h("fieldset", {class: "radios"}, h("legend", {}, legend),
    options.map(([value, words, hint]) => {
      const id = uid(name);
      return h("div", {class: "radio"},
        h("input", {type: "radio", name, value, id, checked: value === checked,
                    dataset: {errorId: `${name}-error`}}),
        h("label", {for: id}, words, hint && h("span", {class: "hint"}, ` ${hint}`)));
    }),
    h("p", {class: "field-error", id: `${name}-error`, hidden: true}));
}

export async function wizard(ctx) {
  const offered = [...(await call("getLocations")).querySelectorAll("location")]
    .map(attributes);  // the account's: the special ones only where allowed
  const steps = [
    h("fieldset", {class: "step"}, h("legend", {}, "1. What to protect"),
      radios("Type", "type", Object.entries(TYPES).map(([v, w]) => [v, w]), "1"),
      field("Name", {name: "name", required: true, maxlength: 64},
            {hint: "How you call this server, e.g. web1."})),
    h("fieldset", {class: "step"}, h("legend", {}, "2. How to reach its agent"),
      field("Host name or IP address", {name: "agent", required: true,
                                        autocomplete: "off", spellcheck: "false"},
            {hint: "The address at which the backup server reaches the server's agent."}),
      field("Agent port", {name: "agent_port", type: "number", min: 1, max: 65535,
                           value: 1167, inputmode: "numeric"},
            {hint: "1167 unless you run the agent on another port."})),
    h("fieldset", {class: "step"}, h("legend", {}, "3. Where to keep the backups"),
      radios("Location", "location", offered.map((l) => [l.id, l.name]), offered[0]?.id)),
    h("fieldset", {class: "step"}, h("legend", {}, "4. Encryption"),
      checkbox("Encrypt this service's backups with a password of mine", {name: "encrypt"}),
      h("div", {class: "encryption", hidden: true},
        h("div", {class: "warning", role: "note"},
          h("p", {}, h("strong", {}, "If you lose this password, your backups are lost.")),
          h("p", {}, "Nobody, BackupRun included, can open an encrypted disk safe without " +
                     "it, and it cannot be recovered. Keep it in a password manager.")),
        field("Disk safe password", {name: "password", type: "password",
                                     autocomplete: "new-password"},
              {hint: "At least 8 characters."}),
        field("The same password again", {name: "again", type: "password",
                                          autocomplete: "new-password"}),
        checkbox("I understand: a lost password means lost backups", {name: "understood"}))),
  ];
  const form = h("form", {novalidate: true, class: "wizard"},
    h("ol", {class: "progress", "aria-label": "Steps"},
      ["What", "Agent", "Location", "Encryption"].map((w) => h("li", {}, w))),
    steps, formMessage(),
    h("p", {class: "actions"},
      h("button", {type: "button", class: "back"}, "Back"),
      h("button", {type: "button", class: "next primary"}, "Next"),
      h("button", {type: "submit", class: "primary create"}, "Create the service")));
  let at = 0;
  const show = (n, focus = true) => {
    at = n;
    steps.forEach((s, i) => { s.hidden = i !== n; });
    form.querySelectorAll(".progress li").forEach((li, i) => {
      li.className = i < n ? "done" : i === n ? "current" : "";
      if (i === n) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
    });
    form.querySelector(".back").hidden = n === 0;
    form.querySelector(".next").hidden = n === steps.length - 1;
    form.querySelector(".create").hidden = n !== steps.length - 1;
    if (focus) steps[n].querySelector("input")?.focus();
  };
  const encrypt = form.querySelector("[name=encrypt]");
  encrypt.addEventListener("change", () => {
    form.querySelector(".encryption").hidden = !encrypt.checked;
  });
  form.querySelector(".back").addEventListener("click", () => show(at - 1));
  form.querySelector(".next").addEventListener("click", () => {
    const missing = [...steps[at].querySelectorAll("[required]")].find((el) => !el.value.trim());
    if (missing) return showError(form, new FieldError(missing.name, "Fill this in."));
    show(at + 1);
  });
  form.addEventListener("keydown", (event) => {  // Enter moves on until the last step
    if (event.key === "Enter" && at < steps.length - 1 && event.target.tagName === "INPUT") {
      event.preventDefault();
      form.querySelector(".next").click();
    }
  });
  onSubmit(form, async (v) => {
    try {
      if (v.encrypt === "1") {
        if (!v.password) throw new FieldError("password", "Choose the disk safe's password.");
        if (v.password !== v.again) throw new FieldError("again", "The two passwords differ.");
        if (v.understood !== "1") {
          throw new FieldError("understood", "Confirm that you keep the password safe.");
        }
      }
      const doc = await call("addService", {
        type: v.type, location: v.location, name: v.name, agent: v.agent,
        agent_port: v.agent_port, encrypt: v.encrypt,
        password: v.encrypt === "1" ? v.password : undefined});
      const id = doc.querySelector("response > agent").getAttribute("service_id");
      ctx.go(`services/${id}/activate`);
    } catch (error) {
      if (error.field in STEP_OF) show(STEP_OF[error.field], false);
      throw error;
    }
  });
  show(0, false);
  return h("section", {class: "card"}, h("h1", {}, "Add a service"),
           h("p", {}, "A service protects one server. Its backups are kept in the location " +
                      "you choose; the server's agent sends them."), form);
}
