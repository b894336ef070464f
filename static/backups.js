// /admin/backups: "Back up now" without a reload. The job's progress (its job.meta, which
// the worker updates about once a second) and then the outcome appear in #backup-progress.
// Lives in static/ (no inline script) so the Content-Security-Policy can forbid inline code.
(function () {
  "use strict";
  const form = document.getElementById("backup-now");
  const panel = document.getElementById("backup-progress");
  if (!form || !panel) return;
  const button = form.querySelector("button");
  const STEPS = { data: "records exported", media: "image bytes read", archive: "archive bytes written" };

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function megabytes(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }

  function progressLines(job) {
    return Object.entries(job.progress || {}).map(([step, [done, total]]) => {
      const bytes = step !== "data";
      const text = (STEPS[step] || step) + ": " + (bytes ? megabytes(done) : done) +
        (total ? " of " + (bytes ? megabytes(total) : total) : "");
      const line = el("li", {}, text);
      if (total) line.append(" ", el("progress", { max: String(total), value: String(done) }));
      return line;
    });
  }

  function show(job) {
    panel.hidden = false;
    const outcome = job.outcome;
    const finished = job.state === "finished" || job.state === "failed";
    if (outcome && (finished || job.state === "retry scheduled")) {
      panel.className = "progress-panel " + (outcome.ok ? "ok" : "failed");
      const text = outcome.ok
        ? "Backup done: " + outcome.key + " (" + outcome.size + "): " + outcome.counts + "."
        : "The backup failed: " + outcome.error +
          (job.state === "retry scheduled" ? " A retry is scheduled (" + job.retries_left + " left)." : "");
      panel.replaceChildren(el("p", {}, text));
      return finished;
    }
    panel.className = "progress-panel running";
    const heading = job.state === "running"
      ? "Backing up" + (job.step ? " (" + job.step + ")" : "") + "…"
      : "Backup " + job.state + " (job " + job.id + ")…";
    const list = el("ul");
    list.append(...progressLines(job));
    panel.replaceChildren(el("p", {}, heading), list);
    return false;
  }

  async function follow(url, delay) {
    let job;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      job = await response.json();
      if (!response.ok) throw new Error(job.error || "status " + response.status);
    } catch (err) {
      panel.replaceChildren(el("p", { class: "error" }, "Lost track of the backup: " + err.message));
      button.disabled = false;
      return;
    }
    if (show(job)) { button.disabled = false; return; }
    setTimeout(() => follow(url, Math.min(delay * 1.5, 2000)), delay);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;  // one click, one backup
    panel.hidden = false;
    panel.className = "progress-panel running";
    panel.replaceChildren(el("p", {}, "Starting a backup…"));
    let answer;
    try {
      const response = await fetch(form.action, {
        method: "POST", body: new FormData(form), headers: { Accept: "application/json" },
      });
      answer = await response.json();
    } catch (err) {
      panel.replaceChildren(el("p", { class: "error" }, "The backup could not be started. Please try again."));
      button.disabled = false;
      return;
    }
    panel.replaceChildren(el("p", {}, answer.message));
    follow(answer.status_url, 300);
  });
})();
