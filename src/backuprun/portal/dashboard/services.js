// Reading services: getStatus's <agent> elements as plain objects, one service by its
// service_id, and its task history (alert_history).
import {ApiError, attributes, call, timezoneOffset} from "./api.js";

export function agentOf(element) {
  const agent = attributes(element);
  agent.server = attributes(element.querySelector("server"));
  agent.history = JSON.parse(agent.alert_history || "[]");
  const task = element.querySelector("task");
  if (task) agent.task = attributes(task);
  return agent;
}

export async function all() {
  const doc = await call("getStatus");
  return [...doc.querySelectorAll("response > account > agent")].map(agentOf);
}

// getBackupStatus: the service, its latest task, and its history with the browser's times.
export async function status(serviceId) {
  const doc = await call("getBackupStatus", {service_id: serviceId,
                                             timezoneOffset: timezoneOffset()});
  return agentOf(doc.querySelector("response > agent"));
}

// getStatus's element for one service (it alone has create_error and subuser_id).
export async function one(serviceId) {
  const found = (await all()).find((a) => a.service_id === serviceId);
  if (!found) throw new ApiError("service_not_found", "This account has no service with that id.");
  return found;
}

// https://SERVERIP:HTTPS_PORT, the backup server's address as the agent trusts it.
export const serverAddress = (agent) => `https://${agent.serverip}:${agent.server.https_port}`;
