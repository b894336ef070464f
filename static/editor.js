// Post editor: live preview, autosave, and the images panel (upload, wait for the worker
// to clean them, insert, edit alt text, remove).
// Lives in static/ (no inline script) so the Content-Security-Policy can forbid inline code.
(function () {
  "use strict";
  const form = document.querySelector("form.editor");
  if (!form) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const body = document.getElementById("body");
  const base = document.getElementById("base");

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // POST a FormData; always resolves to {ok, status, answer} (answer.error on failure).
  async function post(url, data) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST", body: data, headers: { "X-CSRFToken": csrf, Accept: "application/json" },
      });
    } catch (err) {
      return { ok: false, status: 0, answer: { error: "The server could not be reached." } };
    }
    try {
      return { ok: response.ok, status: response.status, answer: await response.json() };
    } catch (err) {
      return { ok: false, status: response.status, answer: { error: "Please reload the page (the server answered " + response.status + ")." } };
    }
  }

  // ---- autosave --------------------------------------------------------------------
  // A few seconds after the last keystroke (at most MAX_WAIT while typing on), the title,
  // body and tags are saved: a draft as a draft, a published post as a pending revision
  // that readers do not see until "Update". One save at a time: the first save of a new
  // post creates it, and later ones must go to its address.
  const autosave = (function () {
    const status = document.getElementById("autosave-status");
    const DELAY = 2000, MAX_WAIT = 10000, RETRY = 10000;
    let url = form.dataset.autosaveUrl;
    let dirty = false, saving = false, submitting = false, otherChanges = false;
    let timer = null, firstChange = 0;
    let deferredSubmit = null;  // {submitter}: Save/Update pressed while an autosave ran

    function hhmm(seconds) {
      const d = new Date(seconds * 1000);
      return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
    }

    function schedule(delay) {
      clearTimeout(timer);
      timer = setTimeout(save, delay);
    }

    function changed() {
      dirty = true;
      status.textContent = "Unsaved changes";
      const now = Date.now();
      if (!firstChange) firstChange = now;
      schedule(Math.max(0, Math.min(DELAY, firstChange + MAX_WAIT - now)));
    }

    async function save() {
      if (submitting || !dirty) return;
      if (saving) return schedule(500);
      saving = true;
      dirty = false;
      firstChange = 0;
      status.textContent = "Saving…";
      const result = await post(url, new FormData(form));
      saving = false;
      if (submitting) return;
      if (deferredSubmit) {
        // Save/Update was pressed meanwhile: the first save of a new post has just made
        // it, so the form must go to that post's address (and base), not create another.
        if (result.ok) apply(result.answer);
        const { submitter } = deferredSubmit;
        deferredSubmit = null;
        form.requestSubmit(submitter);
        return;
      }
      if (!result.ok) {
        dirty = true;
        const reason = result.answer.error || "Not saved.";
        status.textContent = reason.startsWith("Not saved") ? reason : "Not saved yet: " + reason;
        if (result.status === 0 || result.status >= 500) schedule(RETRY);
        return;
      }
      const answer = result.answer;
      apply(answer);
      status.textContent = "Saved " + hhmm(answer.saved_at) +
        (answer.kind === "revision" ? " (not published until you press Update)" : "");
      if (dirty) changed();  // typed on while saving
    }

    function apply(answer) {
      base.value = answer.base;
      url = answer.autosave_url;
      if (location.pathname !== answer.edit_url) {
        history.replaceState(null, "", answer.edit_url);  // a reload finds the text again
        form.action = answer.edit_url;
      }
    }

    form.addEventListener("input", (event) => {
      if (["title", "body", "tags"].includes(event.target.id)) changed();
      else if (event.target.name) otherChanges = true;  // status, publish time (not alt text)
    });
    form.addEventListener("submit", (event) => {
      clearTimeout(timer);
      if (saving) {
        // An autosave is on its way (perhaps creating this very post): submit once it
        // has answered, to the address it gives.
        event.preventDefault();
        deferredSubmit = { submitter: event.submitter };
        return;
      }
      submitting = true;
    });
    window.addEventListener("beforeunload", (event) => {
      if (submitting || !(dirty || saving || otherChanges)) return;
      event.preventDefault();
      event.returnValue = "";  // the browser asks "Leave site? Changes you made may not be saved."
    });
    return { changed };
  })();

  // ---- live preview ----------------------------------------------------------------
  // Rendered by the server with the renderer and sanitizer of the published page.
  (function () {
    const toggle = document.getElementById("preview-toggle");
    const pane = document.getElementById("preview");
    const output = document.getElementById("preview-body");
    const area = document.getElementById("write-area");
    const url = form.dataset.previewUrl;
    let timer = null, latest = 0;

    async function refresh() {
      const ticket = ++latest;
      const data = new FormData();
      data.append("csrf_token", csrf);
      data.append("body", body.value);
      const result = await post(url, data);
      if (ticket !== latest) return;  // a newer preview is on its way
      if (!result.ok) {
        output.replaceChildren(el("p", { class: "error", role: "alert" }, result.answer.error));
      } else if (!body.value.trim()) {
        output.replaceChildren(el("p", { class: "hint" }, "Nothing to preview yet."));
      } else {
        output.innerHTML = result.answer.html;  // sanitized by the server (nh3 allowlist)
      }
    }

    toggle.hidden = false;
    toggle.addEventListener("click", () => {
      const on = toggle.getAttribute("aria-pressed") !== "true";
      toggle.setAttribute("aria-pressed", String(on));
      pane.hidden = !on;
      area.classList.toggle("previewing", on);
      if (on) refresh();
    });
    body.addEventListener("input", () => {
      if (pane.hidden) return;
      clearTimeout(timer);
      timer = setTimeout(refresh, 400);
    });
  })();

  // ---- images panel ----------------------------------------------------------------
  const section = document.getElementById("uploads");
  const input = document.getElementById("image-input");
  const list = document.getElementById("upload-list");
  const uploadUrl = section.dataset.uploadUrl;
  const rows = new Map();  // image id -> {item, info}

  function escapeRe(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }
  function markdownOf(info) { return new RegExp("!\\[([^\\]]*)\\]\\(" + escapeRe(info.url) + "\\)", "g"); }
  function uses(info) { return Array.from(body.value.matchAll(markdownOf(info))); }
  function cleanAlt(text) { return text.trim().replace(/[[\]]/g, ""); }

  function setBody(value) {
    body.value = value;
    autosave.changed();
    body.dispatchEvent(new Event("input", { bubbles: false }));  // the preview follows
    refreshRows();
  }

  function insertAtCursor(text) {
    const start = body.selectionStart ?? body.value.length;
    const end = body.selectionEnd ?? start;
    const before = body.value.slice(0, start);
    // An image on its own line, as a paragraph of its own.
    const gap = !before || before.endsWith("\n\n") ? "" : before.endsWith("\n") ? "\n" : "\n\n";
    setBody(before + gap + text + "\n" + body.value.slice(end));
    body.focus();
  }

  function button(label, onClick) {
    const node = el("button", { type: "button", class: "secondary" }, label);
    node.addEventListener("click", onClick);
    return node;
  }

  // The row's state and buttons follow the body: "Insert into post" while the image is
  // not in it; "Insert again" and "Remove from post" once it is.
  function refreshRow(row, force) {
    const { item, info } = row;
    if (item.dataset.guard) return;
    const count = uses(info).length;
    if (!force && item.dataset.count === String(count)) return;
    item.dataset.count = String(count);
    row.state.textContent = count ? (count > 1 ? "In the post " + count + " times." : "In the post.") : "Not in the post.";
    const insert = button(count ? "Insert again" : "Insert into post", () => {
      const alt = cleanAlt(row.alt.value);
      if (!alt) { row.error.textContent = "Please write alt text first."; row.alt.focus(); return; }
      row.error.textContent = "";
      // A double click must not insert twice: the button rests a moment as "Inserted"
      // (the guard keeps the row from being redrawn meanwhile).
      item.dataset.guard = "1";
      insert.disabled = true;
      insert.textContent = "Inserted";
      insertAtCursor("![" + alt + "](" + info.url + ")");
      setTimeout(() => { delete item.dataset.guard; refreshRow(row, true); }, 1500);
    });
    const actions = [insert];
    if (count) {
      actions.push(button("Remove from post", () => {
        setBody(body.value.replace(markdownOf(info), "").replace(/\n{3,}/g, "\n\n"));
      }));
    }
    row.actions.replaceChildren(...actions);
  }

  function refreshRows() { rows.forEach((row) => refreshRow(row, false)); }

  function showReady(item, info) {
    item.className = "upload ready";
    item.replaceChildren();
    const thumb = info.variants.find((v) => v.name === "thumb") || info.variants[0];
    item.append(el("img", { src: thumb.url, alt: "", width: thumb.width, height: thumb.height }));
    const details = el("div", { class: "upload-details" });
    details.append(el("p", { class: "upload-name" }, info.name + " is ready (" + info.width + "×" + info.height + ")."));
    const report = info.removed.length
      ? "Removed before publishing: " + info.removed.join(", ") + "."
      : "No hidden data was found in this image.";
    details.append(el("p", { class: "privacy-report" }, report));
    const altId = "alt-" + info.id;
    details.append(el("label", { for: altId }, "Alt text (describe the image for people who cannot see it)"));
    const alt = el("input", { type: "text", id: altId, maxlength: "300" });
    const used = uses(info);
    if (used.length) alt.value = used[0][1];
    // Editing the alt text of an image in the post edits it in the body too.
    alt.addEventListener("change", () => {
      const text = cleanAlt(alt.value);
      if (text && uses(info).length) setBody(body.value.replace(markdownOf(info), "![" + text + "](" + info.url + ")"));
    });
    const row = { item, info, alt, state: el("p", { class: "upload-state" }), actions: el("div", { class: "upload-actions" }), error: el("p", { class: "error", role: "alert" }) };
    details.append(alt, row.state, row.actions, row.error);
    item.append(details);
    rows.set(info.id, row);
    refreshRow(row, true);
  }

  function showFailed(item, name, message) {
    item.className = "upload failed";
    item.replaceChildren(el("p", { role: "alert" }, name + ": " + message));
  }

  async function poll(item, info, delay) {
    let response, status;
    try {
      response = await fetch(info.status_url, { headers: { Accept: "application/json" } });
      status = await response.json();
    } catch (err) {
      return setTimeout(() => poll(item, info, Math.min(delay * 2, 5000)), delay);
    }
    if (status.status === "ready") return showReady(item, status);
    if (status.status === "failed" || !response.ok) {
      return showFailed(item, info.name, status.error || "Processing failed.");
    }
    setTimeout(() => poll(item, info, Math.min(delay * 1.5, 3000)), delay);
  }

  async function upload(file) {
    const item = el("li", { class: "upload processing" }, file.name + ": uploading…");
    list.append(item);
    const data = new FormData();
    data.append("image", file);
    const result = await post(uploadUrl, data);
    if (result.status !== 202) return showFailed(item, file.name, result.answer.error || "Upload refused.");
    item.textContent = file.name + ": processing (removing hidden data)…";
    poll(item, result.answer, 300);
  }

  JSON.parse(section.dataset.images || "[]").forEach((info) => {
    const item = el("li");
    list.append(item);
    showReady(item, info);
  });
  body.addEventListener("input", refreshRows);
  input.addEventListener("change", () => {
    Array.from(input.files).forEach(upload);
    input.value = "";
  });
  body.addEventListener("dragover", (event) => { event.preventDefault(); body.classList.add("drop"); });
  body.addEventListener("dragleave", () => body.classList.remove("drop"));
  body.addEventListener("drop", (event) => {
    event.preventDefault();
    body.classList.remove("drop");
    Array.from(event.dataTransfer.files).filter((f) => f.type.startsWith("image/")).forEach(upload);
  });
})();
