// The one place where the API's codes become words: states, levels, install
// methods, and the errors the dashboard words differently from the server's message.

export const TYPES = {"1": "Server", "3": "VDS"};

export const HINTS = [  // setActivationHint's values, the Linux ones first
  {id: "install-on-Linux", name: "Any Linux server"},
  {id: "linux-express-install", name: "Express install (one command)"},
  {id: "install-on-Debian", name: "Debian"},
  {id: "install-on-Ubuntu", name: "Ubuntu"},
  {id: "install-on-Proxmox", name: "Proxmox VE"},
  {id: "install-on-Fedora", name: "Fedora"},
  {id: "install-on-CentOS", name: "CentOS Stream"},
  {id: "install-on-Redhat-Enterprise-Linux", name: "Red Hat Enterprise Linux"},
  {id: "linux-manual-install", name: "Manual install, step by step"},
  {id: "install-on-Windows", name: "Windows"},
];

// create_status: the provisioning walk on the backup server
export const CREATE_STEPS = [
  {at: 0, words: "Configured"}, {at: 1, words: "Volume made"}, {at: 2, words: "User made"},
  {at: 3, words: "Agent recorded"}, {at: 4, words: "Disk safe made"},
  {at: 5, words: "Policy set"}, {at: 10, words: "Ready"},
];

export function provisioning(createStatus) {
  const n = Number(createStatus);
  if (n === 10) return {words: "Ready", tone: "ok"};
  if (n === -1) return {words: "Applying a change", tone: "busy"};
  if (n === -4) return {words: "Terminated", tone: "off"};
  return {words: `Being set up (step ${Math.max(n, 0) + 1} of 7)`, tone: "busy"};
}

// status: from the last backup that ended
export const STATUS = {
  "0": {words: "No backup yet", tone: "off"},
  "1": {words: "Backed up", tone: "ok"},
  "2": {words: "Backed up with warnings", tone: "warn"},
  "3": {words: "Last backup failed", tone: "error"},
};

// The live state of a service, in one phrase: provisioning first, then a running task,
// then the outcome of the last backup.
export function serviceState(agent) {
  const provision = provisioning(agent.create_status);
  if (provision.words !== "Ready") return provision;
  if (agent.running === "1") return {words: "Backup or restore running", tone: "busy"};
  return STATUS[agent.status] || STATUS["0"];
}

export const TASK_STATES = {
  "": {words: "No task yet", tone: "off"},
  INITIALIZING: {words: "Starting", tone: "busy"},
  QUEUED: {words: "Waiting for a worker", tone: "busy"},
  RUNNING: {words: "Running", tone: "busy"},
  FINISHED: {words: "Finished", tone: "ok"},
  ERROR: {words: "Failed", tone: "error"},
  CANCELLED: {words: "Cancelled", tone: "warn"},
};
export const FINAL_STATES = ["FINISHED", "ERROR", "CANCELLED"];

export const taskState = (state) => TASK_STATES[state] || {words: state, tone: "off"};

export const TASK_TYPES = {backup: "Backup", restore: "Restore"};

// messagelevel of getTaskDetailById
export const LEVELS = {
  INFO: {words: "Info", tone: "info", mark: "i"},
  WARNING: {words: "Warning", tone: "warn", mark: "!"},
  SEVERE: {words: "Severe", tone: "error", mark: "×"},
};

export function alerts(nAlerts) {
  const n = Number(nAlerts) || 0;
  const errors = Math.floor(n / 1000), warnings = n % 1000;
  const parts = [];
  if (errors) parts.push(count(errors, "error"));
  if (warnings) parts.push(count(warnings, "warning"));
  return {words: parts.join(", ") || "No alerts", tone: errors ? "error" : warnings ? "warn" : "ok"};
}

export const count = (n, word) => `${n} ${word}${Number(n) === 1 ? "" : "s"}`;

export function bytes(value) {
  let n = Number(value) || 0;
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) { n /= 1024; unit += 1; }
  return unit === 0 ? `${n} bytes` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[unit]}`;
}

// Errors whose server message does not fit the dashboard's context.
const ERRORS = {
  not_logged_in: "Your session has ended; log in again.",
  wrong_credentials: "The e-mail address or the password is wrong.",
  unreachable: "The server could not be reached; check the connection and try again.",
  server_busy: "The server is busy; wait a few seconds and try again.",
  service_not_ready: "The service is still being set up; wait until it is ready.",
};

export const errorWords = (error) => ERRORS[error.code] || error.message;
