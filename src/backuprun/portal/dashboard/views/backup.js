// Backing up: "Back up now" (runPolicy) and the task followed live by polling
// getBackupStatus; how it ended, with the log's warnings and SEVERE messages. The owner
// also sets the schedule and how many recovery points are kept (getPolicy, setPolicy).
import {call, timezoneOffset} from "../api.js";
import {badge, h, replace} from "../dom.js";
import {field, formMessage, onSubmit, say} from "../forms.js";
import {every} from "../poll.js";
import * as services from "../services.js";
import * as tasklog from "../tasklog.js";
import {FINAL_STATES, TASK_TYPES, bytes, count, errorWords, taskState} from "../words.js";

export async function page(ctx) {
  const id = ctx.params.id;
  let agent = await services.status(id);
  const first = agent.first_backup_try !== "1";
  const progress = h("div", {class: "progress-box", role: "status", "aria-live": "polite"});
  const outcome = h("div", {});
  const run = h("button", {type: "button", class: "primary"}, "Back up now");
  const runError = h("p", {class: "form-message", role: "alert"});

  let following = null;
  const showTask = (task) => {
    const state = taskState(task.taskstate);
    const final = FINAL_STATES.includes(task.taskstate);
    replace(progress,
      h("p", {}, `${TASK_TYPES[task.type] || "Task"}: `, badge(state)),
      !final && h("progress", {"aria-label": "Backup in progress"}),
      h("p", {class: "counts"}, `${count(task.files, "file")}, ${bytes(task.bytes)} seen, ` +
                                `${bytes(task.bytes_read)} of changed data read`));
  };
  const follow = (taskId) => {
    following?.();
    replace(outcome);
    run.disabled = true;
    following = every(1500, async () => {
      agent = await services.status(id);
      const task = agent.task;
      if (task.taskexecutioncontextid !== taskId) return true;
      showTask(task);
      if (!FINAL_STATES.includes(task.taskstate)) return true;
      run.disabled = false;
      await ended(taskId, task.taskstate);
      return false;
    }, ctx);
  };
  const ended = async (taskId, state) => {
    const lines = await tasklog.messages(taskId);
    const notable = lines.filter((m) => m.level !== "INFO");
    const words = {FINISHED: notable.length ? "The backup finished, with warnings."
                     : "The backup finished: a new recovery point is made.",
                   ERROR: "The backup failed.", CANCELLED: "The backup was cancelled."}[state];
    ctx.announce(words);
    replace(outcome,
      h("p", {class: `form-message ${state === "FINISHED" && !notable.length ? "ok"
        : state === "ERROR" ? "error" : "warn"}`}, words),
      notable.length > 0 && tasklog.table(notable, "What went wrong"),
      h("p", {class: "actions"},
        h("a", {href: `#/services/${id}/tasks/${taskId}`, class: "button"}, "The whole log"),
        state === "FINISHED" && h("a", {href: `#/services/${id}/restore`, class: "button"},
                                  "Browse the recovery points")));
  };
  run.addEventListener("click", async () => {
    runError.textContent = "";
    runError.className = "form-message";
    try {
      const doc = await call("runPolicy", {service_id: id});
      const task = doc.querySelector("response > task");
      showTask({taskstate: task.getAttribute("taskstate"), type: "backup", files: 0,
                bytes: 0, bytes_read: 0});
      follow(task.getAttribute("taskexecutioncontextid"));
    } catch (error) {
      runError.textContent = errorWords(error);
      runError.className = "form-message error";
    }
  });
  if (agent.task?.taskstate) {
    showTask(agent.task);
    if (!FINAL_STATES.includes(agent.task.taskstate)) follow(agent.task.taskexecutioncontextid);
  } else {
    replace(progress, h("p", {}, "No backup has run yet."));
  }
  return h("section", {},
    h("h1", {}, first ? `Run the first backup of ${agent.name}` : `Back up ${agent.name}`),
    first && h("p", {}, "With the agent installed and running on the server, start the " +
                        "first backup: it copies everything, later ones only what changed."),
    h("section", {class: "card"}, h("p", {class: "actions"}, run), runError, progress, outcome),
    !ctx.user.subuser && agent.readonly !== "1" && await policy(id).catch((error) =>
      h("section", {class: "card"}, h("h2", {}, "Schedule and retention"),
        h("p", {class: "form-message warn"}, errorWords(error)))));
}

async function policy(id) {
  const read = async (fields = {}) => (await call(fields.schedule ? "setPolicy" : "getPolicy",
    {service_id: id, timezoneOffset: timezoneOffset(), ...fields}))
    .querySelector("response > policy");
  const current = await read();
  const next = h("p", {class: "hint"});
  const showNext = (p) => {
    next.textContent = p.getAttribute("schedule") === "manual"
      ? "Backups run only when you start them."
      : p.getAttribute("next_run") ? `Next scheduled backup: ${p.getAttribute("next_run")}.`
        : "The schedule's clock starts within a minute.";
  };
  showNext(current);
  const form = h("form", {novalidate: true},
    field("Schedule", {name: "schedule", value: current.getAttribute("schedule")},
          {hint: "manual, hourly, daily, weekly, or every N with s, m, h or d (every 6h)."}),
    field("Recovery points to keep", {name: "keep_last", type: "number", min: 1,
                                      max: 10000, value: current.getAttribute("keep_last")}),
    next, formMessage(), h("button", {type: "submit"}, "Save the schedule"));
  onSubmit(form, async (v) => {
    showNext(await read({schedule: v.schedule, keep_last: v.keep_last}));
    say(form, "Saved.");
  });
  return h("section", {class: "card"}, h("h2", {}, "Schedule and retention"), form);
}
