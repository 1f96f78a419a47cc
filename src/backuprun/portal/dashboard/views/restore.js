// The recovery-point browser: pick a point (getRecoveryPoints), walk its folders
// (browseRecoveryPoint), tick files and folders, then restore them to the server through
// the agent (restoreFiles, followed by getBackupStatus) or download them (downloadFiles,
// a real form post into a hidden frame: the archive is streamed to the browser's
// downloads, never held in the page).
import {ENDPOINT, call, parseAnswer, timezoneOffset} from "../api.js";
import {badge, h, replace} from "../dom.js";
import {checkbox, clearErrors, field, formMessage, onSubmit, say, showError} from "../forms.js";
import {every} from "../poll.js";
import * as services from "../services.js";
import {FINAL_STATES, bytes, count, errorWords, taskState} from "../words.js";

export async function page(ctx) {
  const id = ctx.params.id;
  const agent = await services.status(id);
  const doc = await call("getRecoveryPoints", {service_id: id, timezoneOffset: timezoneOffset()});
  const points = [...doc.querySelectorAll("response > recoverypoint")].map((p) => ({
    id: p.getAttribute("id"), created: p.getAttribute("created"),
    files: p.getAttribute("files"), bytes: p.getAttribute("bytes")}));
  const head = [h("h1", {}, `Restore from ${agent.name}`)];
  if (!points.length) {
    return h("section", {}, head, h("p", {class: "empty"}, "No recovery point yet: run a " +
      "backup first."), h("p", {}, h("a", {href: `#/services/${id}/backup`, class: "button"},
      "Back up now")));
  }
  const state = {point: points[0].id, path: "/", selected: new Set()};
  const pointSelect = h("select", {name: "recoverypoint_id"}, points.map((p) =>
    h("option", {value: p.id}, `${p.created} — ${count(p.files, "file")}, ${bytes(p.bytes)}`)));
  const crumbs = h("nav", {class: "crumbs", "aria-label": "Folder"});
  const listing = h("div", {class: "table-wrap"});
  const chosen = h("p", {role: "status", "aria-live": "polite", class: "chosen"});
  const browseError = h("p", {class: "form-message", role: "alert"});

  const showChosen = () => {
    const n = state.selected.size;
    chosen.textContent = n ? `Selected: ${[...state.selected].join(", ")}`
                           : "Nothing selected yet: tick files or folders below.";
  };
  const open = async (path) => {
    browseError.textContent = "";
    browseError.className = "form-message";
    let entries;
    try {
      const answer = await call("browseRecoveryPoint", {service_id: id,
        recoverypoint_id: state.point, path, timezoneOffset: timezoneOffset()});
      entries = [...answer.querySelectorAll("response > entry")].map((e) => ({
        name: e.getAttribute("name"), type: e.getAttribute("type"),
        size: e.getAttribute("size"), mtime: e.getAttribute("mtime")}));
    } catch (error) {
      browseError.textContent = errorWords(error);
      browseError.className = "form-message error";
      return;
    }
    state.path = path;
    const parts = path.split("/").filter(Boolean);
    replace(crumbs, h("ol", {}, [["/", "All files"], ...parts.map((p, i) =>
      ["/" + parts.slice(0, i + 1).join("/"), p])].map(([to, words], i, all) =>
      h("li", {}, i === all.length - 1 ? h("span", {"aria-current": "location"}, words)
        : h("button", {type: "button", class: "link", onclick: () => open(to)}, words)))));
    const full = (name) => (path === "/" ? "" : path) + "/" + name;
    replace(listing, h("table", {class: "browse"},
      h("caption", {class: "visually-hidden"}, `Contents of ${path}`),
      h("thead", {}, h("tr", {}, ["Select", "Name", "Type", "Size", "Changed"].map(
        (w) => h("th", {scope: "col"}, w)))),
      h("tbody", {}, entries.length ? entries.map((e) => {
        const target = full(e.name);
        const box = h("input", {type: "checkbox", "aria-label": `Select ${target}`,
                                checked: state.selected.has(target)});
        box.addEventListener("change", () => {
          if (box.checked) state.selected.add(target); else state.selected.delete(target);
          showChosen();
        });
        return h("tr", {}, h("td", {}, box),
          h("td", {}, e.type === "dir"
            ? h("button", {type: "button", class: "link", onclick: () => open(target)},
                `${e.name}/`) : e.name),
          h("td", {}, e.type), h("td", {}, e.type === "dir" ? "–" : bytes(e.size)),
          h("td", {class: "nowrap"}, e.mtime));
      }) : h("tr", {}, h("td", {colspan: 5}, "This folder is empty.")))));
  };
  pointSelect.addEventListener("change", () => {
    state.point = pointSelect.value;
    state.selected.clear();
    showChosen();
    open("/");
  });

  const restoreProgress = h("div", {role: "status", "aria-live": "polite"});
  const restoreForm = h("form", {novalidate: true},
    field("Restore into this folder on the server", {name: "target", value: "/"},
          {hint: "/ puts the files back in their own places; another folder, e.g. " +
                 "/restored, keeps them apart."}),
    checkbox("Replace files that exist already", {name: "overwrite"}),
    formMessage(),
    h("button", {type: "submit", class: "primary"}, "Restore to the server"),
    restoreProgress);
  onSubmit(restoreForm, async (v) => {
    if (!state.selected.size) return say(restoreForm, "Select what to restore first.", "error");
    const answer = await call("restoreFiles", {service_id: id, recoverypoint_id: state.point,
      "path[]": [...state.selected], target: v.target, overwrite: v.overwrite});
    const taskId = answer.querySelector("response > task").getAttribute("taskexecutioncontextid");
    say(restoreForm, "The restore is queued; the agent writes the files.");
    every(1500, async () => {
      const task = (await services.status(id)).task;
      if (task.taskexecutioncontextid !== taskId) return true;
      const final = FINAL_STATES.includes(task.taskstate);
      replace(restoreProgress, h("p", {}, "Restore: ", badge(taskState(task.taskstate)),
        ` ${count(task.files, "file")}, ${bytes(task.bytes)} written. `,
        final && h("a", {href: `#/services/${id}/tasks/${taskId}`}, "Its log")));
      if (final) ctx.announce(`The restore ${taskState(task.taskstate).words.toLowerCase()}.`);
      return !final;
    }, ctx);
  });

  const frameName = `download-${id}`;
  const frame = h("iframe", {name: frameName, title: "Download", hidden: true});
  const downloadForm = h("form", {method: "post", action: ENDPOINT, target: frameName,
                                  novalidate: true},
    field("Archive format", {}, {input: h("select", {name: "format"},
      h("option", {value: "tar"}, "tar (keeps owners, links and exact times)"),
      h("option", {value: "zip"}, "zip"))}),
    h("div", {class: "hidden-fields"}), formMessage(),
    h("button", {type: "submit"}, "Download"));
  downloadForm.addEventListener("submit", (event) => {
    const message = downloadForm.querySelector(".form-message");
    message.textContent = "";
    if (!state.selected.size) {
      event.preventDefault();
      return say(downloadForm, "Select what to download first.", "error");
    }
    replace(downloadForm.querySelector(".hidden-fields"),
      h("input", {type: "hidden", name: "apiCALL", value: "downloadFiles"}),
      h("input", {type: "hidden", name: "service_id", value: id}),
      h("input", {type: "hidden", name: "recoverypoint_id", value: state.point}),
      [...state.selected].map((p) => h("input", {type: "hidden", name: "path[]", value: p})));
    sent = true;
    say(downloadForm, "The download starts in a moment; your browser saves the archive.");
  });
  let sent = false;
  frame.addEventListener("load", () => {  // an archive is saved; only an error loads here
    const answer = frame.contentDocument;
    if (!sent || answer?.documentElement?.nodeName !== "response") return;
    sent = false;
    try {
      parseAnswer(new XMLSerializer().serializeToString(answer));
    } catch (error) {
      clearErrors(downloadForm);
      showError(downloadForm, error, "");
    }
  });

  showChosen();
  await open("/");
  return h("section", {}, head,
    h("section", {class: "card"},
      field("Recovery point", {}, {input: pointSelect}),
      h("h2", {}, "Files and folders"), crumbs, browseError, listing, chosen),
    h("div", {class: "two"},
      h("section", {class: "card"}, h("h2", {}, "Restore to the server"), restoreForm),
      h("section", {class: "card"}, h("h2", {}, "Download"), downloadForm, frame)));
}
