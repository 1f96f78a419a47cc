// The api.php client: every call the dashboard makes goes through call() below, so that
// whatever the dashboard does, an API client can do too (docs/dashboard.md).
//
// - Fields are posted as multipart/form-data (FormData), on the same origin, with the
//   session cookie (credentials "same-origin"). A list value (path[]) is sent once per item.
// - The answer is XML: <response><status value="ok|error"> ... An error answer carries
//   <error code message field>; call() throws it as an ApiError.

export const ENDPOINT = "api.php";

export class ApiError extends Error {
  constructor(code, message, field) {
    super(message);
    this.code = code;
    this.field = field || "";
  }
}

// The browser's offset in minutes, as getBackupStatus and the restore calls take it.
export const timezoneOffset = () => new Date().getTimezoneOffset();

export function formData(fields) {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) data.append(name, String(item));
  }
  return data;
}

export function parseAnswer(text) {
  const doc = new DOMParser().parseFromString(text, "application/xml");
  const status = doc.querySelector("response > status");
  if (!status) {
    throw new ApiError("internal_error", "The server's answer could not be read; please retry.");
  }
  if (status.getAttribute("value") !== "ok") {
    const error = doc.querySelector("response > error");
    throw new ApiError(error?.getAttribute("code") || "internal_error",
                       error?.getAttribute("message") || "The server refused the request.",
                       error?.getAttribute("field"));
  }
  return doc;
}

// Call apiCALL `name` with `fields`; the answer's XML document, or throws ApiError.
export async function call(name, fields = {}) {
  let response;
  try {
    response = await fetch(ENDPOINT, {method: "POST", credentials: "same-origin",
                                      body: formData({apiCALL: name, ...fields})});
  } catch {
    throw new ApiError("unreachable", "The server could not be reached; check the connection.");
  }
  const doc = parseAnswer(await response.text());
  return doc;
}

// Attributes of an element as a plain object.
export function attributes(element) {
  const out = {};
  for (const attr of element?.attributes || []) out[attr.name] = attr.value;
  return out;
}

// <user><name value=...>...</user> as {name: ..., ...}
export function values(element) {
  const out = {};
  for (const child of element?.children || []) out[child.tagName] = child.getAttribute("value");
  return out;
}
