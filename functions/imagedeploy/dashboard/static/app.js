// imagedeploy dashboard behaviour, loaded as an ES module (no inline scripts: the CSP forbids them).
// - [data-poll=ms]: while a deploy, run or job is in progress (or a log page tails live), fetch
//   this page again every ms and swap in the fresh facts, deploys, runs, instances, jobs, events,
//   pre-deploy output and log lines; stops once the fresh page has no [data-poll].
// - [data-copy=id]: copy the value of the input with that id to the clipboard.

const POLLED = [
  "facts", "deploys", "runs", "instances", "jobs", "events", "pre-deploy", "log-lines",
];

async function refresh(delay, final = false) {
  // polls skip the server's registry checks (rollback targets); the final fetch, once nothing
  // runs any more, does them
  const headers = final ? {} : { "X-Dashboard-Poll": "1" };
  const response = await fetch(window.location.href, { credentials: "same-origin", headers });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  const running = Boolean(fresh.querySelector("[data-poll]")); // read before the swap moves it
  for (const id of POLLED) {
    const current = document.getElementById(id);
    const next = fresh.getElementById(id);
    if (current && next) current.replaceWith(next);
  }
  if (running) {
    window.setTimeout(() => refresh(delay), delay);
  } else if (!final) {
    await refresh(delay, true);
  }
}

function startPolling() {
  const section = document.querySelector("[data-poll]");
  if (!section) return;
  const delay = Math.max(1000, Number(section.dataset.poll) || 3000);
  window.setTimeout(() => refresh(delay), delay);
}

function wireCopyButtons() {
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const input = document.getElementById(button.dataset.copy);
      if (!input) return;
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Press Ctrl+C";
      }
    });
  }
}

startPolling();
wireCopyButtons();
