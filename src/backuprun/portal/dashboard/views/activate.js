// The activation page: the provisioning walk to ready (getStatus, polled), the install
// method (setActivationHint) and its steps with the command to copy, then "Continue"
// (setServiceConfigured) to the first backup.
import {call} from "../api.js";
import {badge, h, replace, uid} from "../dom.js";
import {field, formMessage, onSubmit} from "../forms.js";
import {installSteps, pageAddress} from "../install.js";
import {every} from "../poll.js";
import * as services from "../services.js";
import {CREATE_STEPS, HINTS, provisioning} from "../words.js";

export async function page(ctx) {
  const id = ctx.params.id;
  let agent = await services.one(id);
  const walk = h("ol", {class: "walk", "aria-label": "Setting up on the backup server"});
  const walkState = h("p", {role: "status", "aria-live": "polite"});
  const stuck = h("p", {class: "form-message error", hidden: true});
  const showWalk = () => {
    const at = Number(agent.create_status);
    replace(walk, CREATE_STEPS.map((step) => {
      const done = at >= step.at && at !== -4;
      return h("li", {class: done ? "done" : ""}, h("span", {class: "visually-hidden"},
        done ? "Done: " : "To do: "), step.words);
    }));
    replace(walkState, badge(provisioning(agent.create_status)));
    stuck.hidden = !agent.create_error;
    stuck.textContent = agent.create_error ? `Setting up is stuck: ${agent.create_error}. ` +
      "It is retried by itself; nothing is lost." : "";
  };
  showWalk();
  every(2000, async () => {
    agent = await services.one(id);
    showWalk();
    if (agent.create_status === "10") ctx.announce(`${agent.name} is ready on its backup server.`);
    return agent.create_status !== "10";
  }, ctx);

  const select = h("select", {name: "activation_hint"},
    HINTS.map((hint) => h("option", {value: hint.id,
      selected: hint.id === (agent.activation_hint || "install-on-Linux")}, hint.name)));
  const steps = h("ol", {class: "steps"});
  const openPage = h("a", {target: "_blank", rel: "noopener"}, "Open these steps in a page of their own");
  const server = services.serverAddress(agent);
  const showSteps = async () => {
    replace(steps, h("li", {}, "Loading the steps…"));
    const found = await installSteps(select.value, server, agent.port);
    replace(steps, found.map((parts) => h("li", {}, parts.map(
      (part) => (typeof part === "string" ? part
        : isCommand(part.code) ? command(part.code) : h("code", {}, part.code))))));
    openPage.href = pageAddress(select.value, server, agent.port);
  };
  const form = h("form", {novalidate: true},
    field("How do you want to install the agent?", {}, {input: select}),
    h("h2", {}, "Install the agent"),
    steps, h("p", {}, openPage),
    formMessage(),
    h("button", {type: "submit", class: "primary"}, "Continue"));
  select.addEventListener("change", async () => {
    await showSteps();
    await call("setActivationHint", {service_id: id, activation_hint: select.value})
      .catch(() => null);  // the choice is saved for good by Continue
  });
  onSubmit(form, async (v) => {
    await call("setServiceConfigured", {service_id: id, activation_hint: v.activation_hint});
    ctx.go(`services/${id}/backup`);
  });
  await showSteps();
  return h("section", {},
    h("h1", {}, `Activate ${agent.name}`),
    h("p", {}, `Service ${id}, ${agent.host}:${agent.port}, kept in ${agent.location}.`),
    h("section", {class: "card", "aria-labelledby": "walk-title"},
      h("h2", {id: "walk-title"}, "On the backup server"), walkState, walk, stuck),
    h("section", {class: "card"}, form));
}

// The command of a step (the one-line install, a virtualenv, pip, trust) as opposed to a
// name or an option in a sentence.
const isCommand = (code) => /^(curl|python3? |\/opt\/)/.test(code) || code.length > 60;

// A command to copy: shown as code, with a button that copies it.
function command(text) {
  const id = uid("cmd");
  const done = h("span", {class: "copied", role: "status", "aria-live": "polite"});
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      done.textContent = "Copied.";
    } catch {
      const range = document.createRange();  // no clipboard (plain http): select it instead
      range.selectNodeContents(document.getElementById(id));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      done.textContent = "Selected: press Ctrl+C to copy.";
    }
  };
  return h("span", {class: "command"}, h("code", {id}, text),
    h("button", {type: "button", class: "small", onclick: copy, "aria-describedby": id},
      "Copy"), done);
}
