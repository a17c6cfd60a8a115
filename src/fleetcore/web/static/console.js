/* The console's own script (the Content-Security-Policy allows no inline script).

   The upload's progress (revenue/import_form.html): the bytes sent (HTMX relays the browser's
   upload events), then an indeterminate bar while the server reads and checks the rows. A
   refused upload (4xx) comes back as the form with its errors: HTMX swaps it in (it swaps only
   2xx by default; the event fires on the swap target, so it is heard on the document). */
(function () {
  "use strict";
  /* Irreversible actions ask first: a form with data-confirm="…" is sent only once the person
     says yes (without JavaScript it is sent as it is; the server still checks the version). */
  document.addEventListener("submit", function (event) {
    var form = event.target, message = form && form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); event.stopImmediatePropagation(); }
  }, true);
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status, config = event.detail.requestConfig;
    if (config && config.elt && config.elt.id === "upload-form" && status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:xhr:progress", function (event) {
    var box = document.getElementById("upload-progress");
    if (!box || box.dataset.sent || !event.detail.lengthComputable || !event.detail.total) { return; }
    var bar = box.querySelector("progress"), note = box.querySelector("small");
    var percent = Math.round(100 * event.detail.loaded / event.detail.total);
    if (percent >= 100) {
      box.dataset.sent = "1";
      bar.removeAttribute("value");
      note.textContent = "Uploaded: reading and checking the rows…";
    } else {
      bar.value = percent;
      note.textContent = "Uploading… " + percent + "%";
    }
  });
})();
