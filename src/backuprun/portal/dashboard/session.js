// Who is logged in, as getUserData says; the dashboard shows a subuser only what it may do.
import {ApiError, call, values} from "./api.js";

let current = null;  // {name, email, subuser: bool, ...} or null

export const user = () => current;
export const isSubuser = () => Boolean(current?.subuser);

// Ask the server (the session cookie is HttpOnly: only the server knows whether it is valid).
export async function refresh() {
  try {
    const doc = await call("getUserData");
    const data = values(doc.querySelector("response > user"));
    current = {...data, subuser: data.subuser === "1"};
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== "not_logged_in") throw error;
    current = null;
  }
  return current;
}

export async function logIn(email, password, remember) {
  await call("login", {email, password, remember: remember ? "1" : "0"});
  return refresh();
}

export async function logOut() {
  await call("logout");
  current = null;
}
