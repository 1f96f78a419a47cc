// The dashboard's shell: the routes (the part of the address after #), the navigation, and
// moving focus to each new page's heading. Each page is a module of views/.
import {ApiError} from "./api.js";
import {h, replace} from "./dom.js";
import * as session from "./session.js";
import {errorWords} from "./words.js";
import * as account from "./views/account.js";
import * as activate from "./views/activate.js";
import * as addService from "./views/add-service.js";
import * as backup from "./views/backup.js";
import * as restore from "./views/restore.js";
import * as services from "./views/services.js";
import * as settings from "./views/settings.js";
import * as subusers from "./views/subusers.js";
import * as tasks from "./views/tasks.js";

// [pattern, page, who may see it: "public" (logged out), "user" (any session), "main"]
const ROUTES = [
  ["login", account.login, "public"],
  ["register", account.register, "public"],
  ["recover", account.recover, "public"],
  ["services", services.list, "user"],
  ["services/new", addService.wizard, "main"],
  ["services/:id/activate", activate.page, "main"],
  ["services/:id/backup", backup.page, "user"],
  ["services/:id/tasks", tasks.history, "user"],
  ["services/:id/tasks/:task", tasks.log, "user"],
  ["services/:id/restore", restore.page, "user"],
  ["subusers", subusers.page, "main"],
  ["settings", settings.page, "user"],
];

const main = document.getElementById("main");
let leaving = [];  // what the current page stops when another one opens (its polling)

function go(path) {
  if (location.hash === `#/${path}`) show();
  else location.hash = `#/${path}`;
}

function match(path) {
  const parts = path.split("/").filter(Boolean);
  for (const [pattern, page, who] of ROUTES) {
    const want = pattern.split("/");
    if (want.length !== parts.length) continue;
    const params = {};
    if (want.every((w, i) => (w.startsWith(":") ? (params[w.slice(1)] =
        decodeURIComponent(parts[i])) : w === parts[i]))) return {page, who, params};
  }
  return null;
}

function nav() {
  const me = session.user();
  const here = location.hash.slice(2).split("/")[0] || "services";
  const link = (path, words) => h("a", {href: `#/${path}`,
    "aria-current": here === path ? "page" : undefined}, words);
  const items = me
    ? [link("services", "Services"), !me.subuser && link("subusers", "Subusers"),
       link("settings", "Account"),
       h("span", {class: "who"}, me.subuser ? `${me.name} (subuser)` : me.name),
       h("button", {type: "button", class: "link", onclick: logOut}, "Log out")]
    : [link("login", "Log in"), link("register", "Register")];
  replace(document.getElementById("nav"), h("ul", {}, items.filter(Boolean).map(
    (item) => h("li", {}, item))));
}

async function logOut() {
  await session.logOut();
  go("login");
}

// Tell a screen reader something that happened without moving the focus.
function announce(words) {
  const region = document.getElementById("announce");
  region.textContent = "";
  setTimeout(() => { region.textContent = words; }, 50);
}

async function show() {
  leaving.forEach((stop) => stop());
  leaving = [];
  const path = location.hash.replace(/^#\/?/, "") || "services";
  const found = match(path.split("?")[0]);
  const me = session.user();
  if (!found) return go(me ? "services" : "login");
  if (found.who === "public" && me) return go("services");
  if (found.who !== "public" && !me) return go("login");
  if (found.who === "main" && me.subuser) return go("services");
  nav();
  const ctx = {params: found.params, go, announce, sessionChanged, user: me,
               onLeave: (stop) => leaving.push(stop),
               query: new URLSearchParams(path.split("?")[1] || "")};
  try {
    replace(main, await found.page(ctx));
  } catch (error) {
    if (error instanceof ApiError && error.code === "not_logged_in") {
      await session.refresh().catch(() => null);
      return go("login");
    }
    replace(main, h("h1", {tabindex: "-1"}, "Something went wrong"),
      h("p", {class: "form-message error", role: "alert"},
        error instanceof ApiError ? errorWords(error) : String(error)),
      h("p", {}, h("a", {href: "#/services"}, "Back to the services")));
  }
  main.dataset.shown = String(Number(main.dataset.shown || 0) + 1);  // pages shown so far
  const heading = main.querySelector("h1");
  document.title = `${heading ? heading.textContent : "Dashboard"} · BackupRun`;
  (heading || main).setAttribute("tabindex", "-1");
  (heading || main).focus();
}

// After a login or a logout, the navigation and the routes follow the new session.
async function sessionChanged(path) {
  await session.refresh();
  go(path);
}

window.addEventListener("hashchange", show);
session.refresh()
  .catch(() => null)
  .then(show);
