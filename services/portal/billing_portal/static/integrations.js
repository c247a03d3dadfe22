// Integrations: the Settings buttons open their forms; a sync run's progress is shown live until it ends.
"use strict";
document.querySelectorAll("button.toggle").forEach((button) => {
  const target = document.getElementById(button.getAttribute("aria-controls"));
  if (!target) return;
  target.hidden = button.getAttribute("aria-expanded") !== "true";
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    target.hidden = !open;
    if (open) { const first = target.querySelector("input:not([type=hidden])"); if (first) first.focus(); }
  });
});

const progress = document.querySelector(".progress[data-run]");
if (progress) {
  const describe = (run) => {
    const parts = Object.entries(run.entities || {}).map(([name, p]) =>
      `${name} ${p.fetched}${p.total != null ? " of " + p.total : ""}`);
    if (run.status === "running") return `Sync running: ${parts.join(", ") || "starting"}`;
    if (run.status === "completed") return `Sync completed: ${parts.join(", ")}`;
    return `Sync ${run.status}${run.reason ? ": " + run.reason : ""}`;
  };
  const poll = async () => {
    try {
      const answer = await fetch(`/integrations/sync/runs/${encodeURIComponent(progress.dataset.run)}`,
                                 {headers: {"Accept": "application/json"}});
      if (answer.ok) {
        const run = await answer.json();
        progress.textContent = describe(run);
        progress.dataset.status = run.status;
        if (run.status !== "running") return;
      }
    } catch (e) { progress.textContent = "Waiting for the sync service…"; }
    setTimeout(poll, 1000);
  };
  poll();
}
