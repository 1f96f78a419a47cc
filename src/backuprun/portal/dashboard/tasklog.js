// A task's log (getTaskDetailById) as a table: time, level in words and colour, source,
// message. Used by the task history and under a backup that just ended.
import {call, timezoneOffset} from "./api.js";
import {h} from "./dom.js";
import {LEVELS} from "./words.js";

export async function messages(taskId) {
  const doc = await call("getTaskDetailById", {taskExecutionContextId: taskId,
                                               timezoneOffset: timezoneOffset()});
  return [...doc.querySelectorAll("response > task > message")].map((m) => ({
    source: m.getAttribute("messagesource"), key: m.getAttribute("messagekey"),
    level: m.getAttribute("messagelevel"), text: m.getAttribute("messagestring"),
    time: m.getAttribute("messagetime")}));
}

export function level(name) {
  const found = LEVELS[name] || {words: name, tone: "info", mark: "?"};
  return h("span", {class: `level ${found.tone}`},
    h("span", {class: "mark", "aria-hidden": "true"}, found.mark), found.words);
}

export function table(lines, caption) {
  return h("div", {class: "table-wrap"}, h("table", {class: "log"},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ["Time", "Level", "Source", "Message"].map(
      (w) => h("th", {scope: "col"}, w)))),
    h("tbody", {}, lines.map((m) => h("tr", {class: `row-${(LEVELS[m.level] || {}).tone}`},
      h("td", {class: "nowrap"}, m.time), h("td", {}, level(m.level)),
      h("td", {}, m.source === "AGENT" ? "Agent" : "Backup server"),
      h("td", {}, m.text))))));
}
