// Subusers (the main account's only): list (getContacts), add (addContact), edit
// (updateContactData), remove (removeContact), and which subuser sees each service
// (getStatus subuser_id, editService set_subuser).
import {attributes, call} from "../api.js";
import {h, replace, uid} from "../dom.js";
import {field, formMessage, onSubmit, say} from "../forms.js";
import * as services from "../services.js";
import {errorWords} from "../words.js";

async function contacts() {
  const doc = await call("getContacts");
  return [...doc.querySelectorAll("response > contact")].map(attributes);
}

// addContact's and updateContactData's fields; `contact` fills them in for an edit.
function contactFields(contact = {}) {
  const editing = Boolean(contact.id);
  return [
    field("Name", {name: "name", required: true, value: contact.name, autocomplete: "off"}),
    field("E-mail address", {name: "email", type: "email", required: true,
                             value: contact.email, autocomplete: "off"},
          {hint: "The subuser logs in with it."}),
    field(editing ? "New password" : "Password", {name: "password", type: "password",
                                                  autocomplete: "new-password"},
          {hint: editing ? "Leave empty to keep the password." : "At least 8 characters."}),
    field("Mobile phone", {name: "telephone", type: "tel", value: contact.telephone}),
    field("Second mobile phone", {name: "Mobile2", type: "tel", value: contact.mobile2}),
    field("Fixed phone", {name: "FixedPhone", type: "tel", value: contact.fixedphone}),
  ];
}

export async function page(ctx) {
  const list = h("div", {});
  const editor = h("div", {});
  const assign = h("div", {});
  const render = async () => {
    const [people, agents] = await Promise.all([contacts(), services.all()]);
    replace(list, people.length ? h("div", {class: "table-wrap"}, h("table", {},
      h("caption", {class: "visually-hidden"}, "Subusers"),
      h("thead", {}, h("tr", {}, ["Name", "E-mail", "Phones", "Actions"].map(
        (w) => h("th", {scope: "col"}, w)))),
      h("tbody", {}, people.map((c) => h("tr", {},
        h("td", {}, c.name), h("td", {}, c.email),
        h("td", {}, [c.telephone, c.mobile2, c.fixedphone].filter(Boolean).join(", ") || "–"),
        h("td", {class: "actions"},
          h("button", {type: "button", class: "small", onclick: () => edit(c),
                       "aria-label": `Edit ${c.name}`}, "Edit"),
          h("button", {type: "button", class: "small danger", onclick: () => remove(c),
                       "aria-label": `Remove ${c.name}`}, "Remove")))))))
      : h("p", {class: "empty"}, "No subuser yet."));
    replace(assign, assignments(agents, people));
  };

  const edit = (contact) => {
    const form = h("form", {novalidate: true}, contactFields(contact), formMessage(),
      h("p", {class: "actions"}, h("button", {type: "submit", class: "primary"}, "Save"),
        h("button", {type: "button", onclick: () => replace(editor)}, "Cancel")));
    onSubmit(form, async (v) => {
      await call("updateContactData", {contact_id: contact.id, ...v});
      replace(editor);
      await render();
      ctx.announce(`${v.name} is saved.`);
    });
    replace(editor, h("section", {class: "card", "aria-labelledby": "edit-title"},
      h("h2", {id: "edit-title"}, `Edit ${contact.name}`), form));
    form.querySelector("input").focus();
  };

  const remove = (contact) => {
    const message = formMessage();
    const confirmBox = h("section", {class: "card warning", role: "alertdialog",
                                     "aria-labelledby": "remove-title"},
      h("h2", {id: "remove-title"}, `Remove ${contact.name}?`),
      h("p", {}, "The subuser can no longer log in; the services it saw stay yours."),
      message,
      h("p", {class: "actions"},
        h("button", {type: "button", class: "danger", onclick: async () => {
          try {
            await call("removeContact", {contact_id: contact.id});
            replace(editor);
            await render();
            ctx.announce(`${contact.name} is removed.`);
          } catch (error) {
            message.textContent = errorWords(error);
            message.className = "form-message error";
          }
        }}, "Remove"),
        h("button", {type: "button", onclick: () => replace(editor)}, "Keep")));
    replace(editor, confirmBox);
    confirmBox.querySelector("button").focus();
  };

  const addForm = h("form", {novalidate: true}, contactFields(), formMessage(),
    h("button", {type: "submit", class: "primary"}, "Add the subuser"));
  onSubmit(addForm, async (v) => {
    await call("addContact", {...v, role: "4"});
    addForm.reset();
    await render();
    say(addForm, `${v.name} can now log in with ${v.email}.`);
  });

  await render();
  return h("section", {},
    h("h1", {}, "Subusers"),
    h("p", {}, "A subuser logs in with its own e-mail address and sees only the services " +
               "you assign to it: it can back them up, restore and read their logs, but not " +
               "change them."),
    h("section", {class: "card"}, h("h2", {}, "Your subusers"), list), editor,
    h("section", {class: "card"}, h("h2", {}, "Who sees each service"), assign),
    h("section", {class: "card"}, h("h2", {}, "Add a subuser"), addForm));
}

function assignments(agents, people) {
  if (!agents.length) return h("p", {class: "empty"}, "No service yet.");
  return h("ul", {class: "assign"}, agents.map((a) => {
    const id = uid("assign");
    const status = h("span", {class: "hint", role: "status", "aria-live": "polite"});
    const select = h("select", {id, onchange: async () => {
      status.textContent = "Saving…";
      try {
        await call("editService", {sc_id: a.id, service_action: "set_subuser",
                                   service_type: "custom", subuser_id: select.value});
        status.textContent = "Saved.";
      } catch (error) {
        status.textContent = errorWords(error);
      }
    }}, h("option", {value: "0"}, "Only you"), people.map((c) => h("option", {
      value: c.id, selected: a.subuser_id === c.id}, `${c.name} (${c.email})`)));
    return h("li", {}, h("label", {for: id}, `${a.name} (${a.service_id})`), select, status);
  }));
}
