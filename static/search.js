// Search box suggestions: titles and tags from /search/suggest while typing.
// Debounced (one request per pause), keyboard accessible (ARIA combobox: arrows move,
// Enter opens, Escape closes); without this script the box is a plain GET form.
(function () {
  "use strict";
  const DELAY_MS = 150;
  const MIN_LENGTH = 2;

  function setUp(input) {
    const list = document.createElement("ul");
    list.id = "search-suggestions";
    list.className = "suggestions";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Suggestions");
    list.hidden = true;
    input.form.appendChild(list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");

    let timer = null;
    let active = -1;
    let latest = 0;

    function options() {
      return Array.from(list.querySelectorAll('[role="option"]'));
    }

    function close() {
      list.hidden = true;
      list.replaceChildren();
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function highlight(index) {
      const items = options();
      if (!items.length) return;
      active = (index + items.length) % items.length;
      items.forEach((item, i) => item.setAttribute("aria-selected", i === active ? "true" : "false"));
      input.setAttribute("aria-activedescendant", items[active].id);
    }

    function show(suggestions) {
      list.replaceChildren();
      active = -1;
      suggestions.forEach((s, i) => {
        const item = document.createElement("li");
        item.id = "suggestion-" + i;
        item.setAttribute("role", "option");
        item.setAttribute("aria-selected", "false");
        item.dataset.url = s.url;
        item.className = "suggestion " + s.kind;
        item.textContent = s.label;
        item.addEventListener("mousedown", (event) => {
          event.preventDefault(); // keep focus in the box until we navigate
          window.location.assign(s.url);
        });
        list.appendChild(item);
      });
      const any = suggestions.length > 0;
      list.hidden = !any;
      input.setAttribute("aria-expanded", any ? "true" : "false");
    }

    async function fetchSuggestions() {
      const q = input.value.trim();
      if (q.length < MIN_LENGTH) return close();
      const ticket = ++latest;
      try {
        const response = await fetch(input.dataset.suggest + "?q=" + encodeURIComponent(q), {
          headers: { Accept: "application/json" },
        });
        if (!response.ok) return close();
        const data = await response.json();
        if (ticket === latest) show(data.suggestions || []); // answers can arrive out of order
      } catch (error) {
        close(); // the form still works without suggestions
      }
    }

    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(fetchSuggestions, DELAY_MS);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (list.hidden) return;
        event.preventDefault();
        highlight(active + (event.key === "ArrowDown" ? 1 : -1));
      } else if (event.key === "Enter" && active >= 0 && !list.hidden) {
        event.preventDefault();
        window.location.assign(options()[active].dataset.url);
      } else if (event.key === "Escape" && !list.hidden) {
        event.preventDefault();
        close();
      }
    });
    input.addEventListener("blur", () => setTimeout(close, 100));
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("input[data-suggest]").forEach(setUp);
  });
})();
