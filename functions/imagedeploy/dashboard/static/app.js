// imagedeploy dashboard behaviour, loaded as an ES module (no inline scripts: the CSP forbids them).
// - [data-poll=ms]: while a deploy or run is in progress, fetch this page again every ms and
//   swap in the fresh #deploys and #events sections; stops once nothing is in progress.
// - [data-copy=id]: copy the value of the input with that id to the clipboard.

const POLLED = ["facts", "deploys", "runs", "events"];

async function refresh(delay) {
  const response = await fetch(window.location.href, { credentials: "same-origin" });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  let stillRunning = false;
  for (const id of POLLED) {
    const current = document.getElementById(id);
    const next = fresh.getElementById(id);
    if (current && next) current.replaceWith(next);
  }
  const deploys = fresh.getElementById("deploys");
  stillRunning = Boolean(deploys && deploys.dataset.poll);
  if (stillRunning) window.setTimeout(() => refresh(delay), delay);
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
