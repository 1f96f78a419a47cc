// A service's task history (alert_history of getBackupStatus, in the browser's time) and
// one task's log (getTaskDetailById), levels in words and colour.
import {badge, h, replace} from "../dom.js";
import {every} from "../poll.js";
import * as services from "../services.js";
import * as tasklog from "../tasklog.js";
import {FINAL_STATES, TASK_TYPES, bytes, count, taskState} from "../words.js";

export async function history(ctx) {
  const id = ctx.params.id;
  const agent = await services.status(id);
  const body = h("tbody", {});
  let shown = "";
  const render = (tasks) => {
    const key = JSON.stringify(tasks);
    if (key === shown) return;
    shown = key;
    replace(body, tasks.length ? tasks.map((t) => h("tr", {},
      h("td", {}, h("a", {href: `#/services/${id}/tasks/${t.taskExecutionContextId}`},
        `${TASK_TYPES[t.type] || t.type} of ${t.created}`)),
      h("td", {}, badge(taskState(t.state))),
      h("td", {class: "nowrap"}, t.finished || "–"),
      h("td", {}, String(t.files)), h("td", {}, bytes(t.bytes)),
      h("td", {}, `${count(t.errors, "error")}, ${count(t.warnings, "warning")}`)))
      : h("tr", {}, h("td", {colspan: 6}, "No task has run yet.")));
  };
  render(agent.history);
  every(3000, async () => render((await services.status(id)).history), ctx);
  return h("section", {},
    h("h1", {}, `History of ${agent.name}`),
    h("p", {}, "The last ten backups and restores, newest first. Open one to read its log."),
    h("div", {class: "table-wrap"}, h("table", {},
      h("caption", {class: "visually-hidden"}, `Tasks of ${agent.name}`),
      h("thead", {}, h("tr", {}, ["Task", "State", "Finished", "Files", "Size", "Alerts"]
        .map((w) => h("th", {scope: "col"}, w)))),
      body)),
    h("p", {}, h("a", {href: "#/services"}, "Back to the services")));
}

export async function log(ctx) {
  const {id, task} = ctx.params;
  const agent = await services.status(id);
  const holder = h("div", {});
  const render = async () => {
    const lines = await tasklog.messages(task);
    const entry = (await services.status(id)).history.find(
      (t) => t.taskExecutionContextId === task);
    const severe = lines.filter((m) => m.level === "SEVERE").length;
    const warnings = lines.filter((m) => m.level === "WARNING").length;
    replace(holder,
      entry && h("p", {}, `${TASK_TYPES[entry.type] || "Task"}: `, badge(taskState(entry.state)),
                 ` ${severe} severe, ${warnings} warnings.`),
      tasklog.table(lines, "Messages, oldest first"));
    return !entry || !FINAL_STATES.includes(entry.state);
  };
  every(3000, render, ctx);
  return h("section", {},
    h("h1", {}, `Task log of ${agent.name}`),
    h("p", {class: "muted"}, `Task ${task}`),
    holder,
    h("p", {}, h("a", {href: `#/services/${id}/tasks`}, "Back to the history")));
}
