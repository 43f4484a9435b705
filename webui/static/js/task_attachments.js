/* The task page's 附件 card: the upload form sends its file in the background (fetch, JSON back), so what the person
 * typed in the task form stays; the new file joins the list, a refusal is shown in words beside the button.
 * Without this script the form posts and the page comes back with the same message. */
(function () {
  "use strict";
  var form = document.getElementById("task-upload");
  if (!form || !window.fetch || !window.FormData) { return; }
  var result = document.getElementById("task-upload-result");
  var list = document.getElementById("task-attachment-list");
  var none = document.getElementById("task-attachment-none");
  var button = form.querySelector("button[type=submit]");

  function say(text, ok) {
    result.textContent = text;
    result.className = "upload-result flash " + (ok ? "flash-ok" : "flash-error");
    result.setAttribute("role", ok ? "status" : "alert");
  }

  function add(item) {
    var li = document.createElement("li");
    li.setAttribute("data-attachment-id", String(item.id));
    var a = document.createElement("a");
    a.className = "attachment-name";
    a.href = item.url;
    a.setAttribute("download", "");
    a.textContent = item.name;
    li.appendChild(a);
    var meta = document.createElement("div");
    meta.className = "muted small";
    meta.textContent = [item.type, item.size_text, item.by, item.at].filter(Boolean).join(" · ");
    li.appendChild(meta);
    var hash = document.createElement("div");
    hash.className = "muted small hash";
    hash.textContent = "SHA-256 ";
    var code = document.createElement("code");
    code.textContent = item.sha256;
    hash.appendChild(code);
    li.appendChild(hash);
    list.appendChild(li);
    list.hidden = false;
    if (none) { none.hidden = true; }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var input = form.querySelector("input[type=file]");
    if (!input.files.length) { input.reportValidity(); return; }
    button.disabled = true;
    form.setAttribute("data-state", "sending");
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                         headers: { "Accept": "application/json" } })
      .then(function (response) {
        return response.json().catch(function () { return { ok: false, message: "HTTP " + response.status }; });
      })
      .then(function (body) {
        say(body.message, body.ok);
        if (body.ok) { add(body.item); input.value = ""; }
        form.setAttribute("data-state", body.ok ? "uploaded" : "refused");
      })
      .catch(function (error) { say(String(error), false); form.setAttribute("data-state", "refused"); })
      .then(function () { button.disabled = false; });
  });
})();
