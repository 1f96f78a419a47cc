// The agent's install steps for one activation hint, as the portal's install page
// (/agent/install, public: no session) writes them, so that the steps have one source
// (backuprun.portal.agentinstall.install_steps). Each step: [text or code parts].
export async function installSteps(hint, server, port) {
  const query = new URLSearchParams({hint, server, port});
  const response = await fetch(`agent/install?${query}`, {credentials: "omit"});
  // the page's own inline style and script are left out: this page's policy refuses them
  const text = (await response.text()).replace(/<(style|script)\b[^]*?<\/\1>/g, "");
  const page = new DOMParser().parseFromString(text, "text/html");
  if (!response.ok) {
    throw new Error(page.querySelector(".error")?.textContent || "No install steps.");
  }
  return [...page.querySelectorAll("main ol > li")].map((li) => [...li.childNodes].map(
    (node) => (node.nodeName === "CODE" ? {code: node.textContent} : node.textContent)));
}

export const pageAddress = (hint, server, port) =>
  `agent/install?${new URLSearchParams({hint, server, port})}`;
