// The services list: each service's live state, alerts, disk usage and last task, asked
// again every few seconds (getStatus).
import {badge, h, replace} from "../dom.js";
import {every} from "../poll.js";
import * as services from "../services.js";
import {TASK_TYPES, alerts, bytes, serviceState, taskState} from "../words.js";

export async function list(ctx) {
  const first = await services.all();
  const holder = h("div", {class: "services"});
  const page = h("section", {},
    h("div", {class: "page-head"}, h("h1", {}, "Your services"),
      !ctx.user.subuser && h("a", {class: "button primary", href: "#/services/new"},
                             "Add a service")),
    holder);
  let shown = "";
  const render = (agents) => {
    const key = JSON.stringify(agents.map((a) => [a.id, a.create_status, a.status,
      a.running, a.n_alerts, a.disk_usage, a.alert_history, a.service_configured]));
    if (key === shown) return;
    shown = key;
    const focused = document.activeElement?.dataset?.key;
    replace(holder, agents.length ? h("ul", {class: "cards", "aria-label": "Services"},
      agents.map((a) => h("li", {}, card(a, ctx.user))))
      : h("p", {class: "empty"}, ctx.user.subuser
        ? "No service is assigned to you yet; the account's owner assigns them."
        : "No service yet. Add the first server you want to protect."));
    if (focused) holder.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
  };
  render(first);
  every(5000, async () => render(await services.all()), ctx);
  return page;
}

function card(agent, user) {
  const id = agent.service_id;
  const last = agent.history[0];
  const ready = agent.create_status === "10";
  const owner = !user.subuser && agent.readonly !== "1";
  const setUp = owner && (!ready || agent.service_configured !== "1");
  const link = (path, words, cls) => h("a", {href: `#/services/${id}/${path}`, class: cls,
                                             dataset: {key: `${id}-${path}`}}, words);
  return h("article", {class: "card service", "aria-labelledby": `svc-${id}`},
    h("h2", {id: `svc-${id}`}, agent.name, " ", h("span", {class: "muted"}, id)),
    h("dl", {class: "facts"},
      h("div", {}, h("dt", {}, "State"), h("dd", {}, badge(serviceState(agent)))),
      h("div", {}, h("dt", {}, "Alerts"), h("dd", {}, badge(alerts(agent.n_alerts)))),
      h("div", {}, h("dt", {}, "Disk usage"), h("dd", {}, bytes(agent.disk_usage))),
      h("div", {}, h("dt", {}, "Server"), h("dd", {}, `${agent.host}:${agent.port}`)),
      h("div", {}, h("dt", {}, "Location"), h("dd", {}, agent.location)),
      h("div", {}, h("dt", {}, "Last task"), h("dd", {}, last
        ? [`${TASK_TYPES[last.type] || last.type}: `, taskState(last.state).words,
           last.finished ? ` (${last.finished} UTC)` : ""]
        : "None yet"))),
    agent.create_error && h("p", {class: "form-message error"},
                            `Setting up is stuck: ${agent.create_error} (retried by itself)`),
    h("p", {class: "actions"},
      setUp && link("activate", ready ? "Install the agent" : "Continue setting up",
                    "button primary"),
      ready && link("backup", "Back up now", setUp ? "button" : "button primary"),
      link("tasks", "History", "button"),
      ready && link("restore", "Restore", "button")));
}
