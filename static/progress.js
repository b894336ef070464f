// Live progress of a worker job: every element with data-status-url gets its
// <progress> bar and step text updated from the JSON status endpoint
// (blog/documents/routes.py) once a second; when the job ends, the page reloads to show
// the result (download link, error or "cancelled").
(function () {
  "use strict";
  var LIVE = { queued: true, retrying: true, running: true };

  function describe(status) {
    var text = status.state;
    if (status.step && status.step !== status.state) text += ": " + status.step;
    if (status.total) text += " (" + status.done + " of " + status.total + ")";
    return text;
  }

  function watch(box) {
    var bar = box.querySelector("progress");
    var step = box.querySelector(".job-step");
    var url = box.getAttribute("data-status-url");

    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (response.status === 404) window.location.reload(); // the job is gone
          if (!response.ok) throw new Error("status " + response.status);
          return response.json();
        })
        .then(function (status) {
          if (status.total) {
            bar.max = status.total;
            bar.value = status.done;
          }
          bar.textContent = status.percent + "%";
          step.textContent = describe(status);
          if (LIVE[status.state]) {
            setTimeout(poll, 1000);
          } else {
            window.location.reload();
          }
        })
        .catch(function () {
          setTimeout(poll, 5000); // a network blip: try again, more slowly
        });
    }
    poll();
  }

  document.querySelectorAll("[data-status-url]").forEach(watch);
})();
