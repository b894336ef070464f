// Post editor: upload images, wait for the worker to clean them, insert them as Markdown.
// Lives in static/ (no inline script) so the Content-Security-Policy can forbid inline code.
(function () {
  "use strict";
  const section = document.getElementById("uploads");
  if (!section) return;
  const input = document.getElementById("image-input");
  const list = document.getElementById("upload-list");
  const body = document.getElementById("body");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const uploadUrl = section.dataset.uploadUrl;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text) node.textContent = text;
    return node;
  }

  function insertAtCursor(text) {
    const start = body.selectionStart ?? body.value.length;
    const end = body.selectionEnd ?? start;
    const before = body.value.slice(0, start);
    const gap = before && !before.endsWith("\n") ? "\n\n" : "";
    body.value = before + gap + text + "\n" + body.value.slice(end);
    body.focus();
  }

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
    details.append(alt);
    const button = el("button", { type: "button" }, "Insert into post");
    const error = el("p", { class: "error", role: "alert" });
    button.addEventListener("click", () => {
      const text = alt.value.trim().replace(/[\[\]]/g, "");
      if (!text) { error.textContent = "Please write alt text first."; alt.focus(); return; }
      error.textContent = "";
      insertAtCursor("![" + text + "](" + info.url + ")");
      button.textContent = "Inserted";
    });
    details.append(button, error);
    item.append(details);
  }

  function showFailed(item, name, message) {
    item.className = "upload failed";
    item.replaceChildren(el("p", { role: "alert" }, name + ": " + message));
  }

  async function poll(item, info, delay) {
    const response = await fetch(info.status_url, { headers: { Accept: "application/json" } });
    const status = await response.json();
    if (status.status === "ready") return showReady(item, status);
    if (status.status === "failed" || !response.ok) {
      return showFailed(item, info.name, status.error || "Processing failed.");
    }
    setTimeout(() => poll(item, info, Math.min(delay * 1.5, 3000)), delay);
  }

  async function upload(file) {
    const item = el("li", { class: "upload processing" }, file.name + ": uploading…");
    list.append(item);
    const form = new FormData();
    form.append("image", file);
    let response, info;
    try {
      response = await fetch(uploadUrl, {
        method: "POST", body: form, headers: { "X-CSRFToken": csrf, Accept: "application/json" },
      });
      info = await response.json();
    } catch (err) {
      return showFailed(item, file.name, "The upload did not reach the server. Please try again.");
    }
    if (response.status !== 202) return showFailed(item, file.name, info.error || "Upload refused.");
    item.textContent = file.name + ": processing (removing hidden data)…";
    poll(item, info, 300);
  }

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
