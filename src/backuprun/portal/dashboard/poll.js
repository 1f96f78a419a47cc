// Asking the server again every few seconds while a page is open (getStatus,
// getBackupStatus): one request at a time, stopped when the page is left.
export function every(ms, ask, ctx) {
  let timer = null;
  let stopped = false;
  const round = async () => {
    if (stopped) return;
    let again = true;
    try {
      again = (await ask()) !== false;
    } catch {
      again = true;  // a hiccup: the next round tells
    }
    if (again && !stopped) timer = setTimeout(round, ms);
  };
  const stop = () => { stopped = true; clearTimeout(timer); };
  ctx.onLeave(stop);
  round();
  return stop;
}

export const POLL_MS = 2000;
