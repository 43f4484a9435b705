/* The intake form's check of the party's phone (重复件 / 重复信访): once the phone is typed, the same party's other
   cases are asked of the server (GET /cases/same-party?phone=…, services/ledger.py same_party) and shown under the
   field, rendered and escaped by the server (cases/_same_party.html). The clerk decides; nothing is blocked.
   No inline code (the page's Content-Security-Policy). */
(function () {
  "use strict";
  var box = document.getElementById("same-party");
  var input = document.querySelector('form.task-form [name="party_phone"]');
  if (!box || !input) { return; }
  var field = input.closest(".field") || input.parentNode;
  field.parentNode.insertBefore(box, field.nextSibling);
  var asked = null;
  var timer = null;

  function ask() {
    var phone = input.value.trim();
    if (phone === asked) { return; }
    asked = phone;
    if (phone.replace(/\D/g, "").length < 7) { box.innerHTML = ""; box.setAttribute("data-state", "empty"); return; }
    box.setAttribute("data-state", "asking");
    fetch(box.getAttribute("data-url") + "?phone=" + encodeURIComponent(phone),
          { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        if (phone !== asked) { return; }  // a newer phone was typed meanwhile
        box.innerHTML = html;
        box.setAttribute("data-state", html.trim() ? "found" : "empty");
      })
      .catch(function () { box.setAttribute("data-state", "failed"); });
  }

  input.addEventListener("change", ask);
  input.addEventListener("input", function () {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(ask, 600);
  });
  if (input.value) { ask(); }
})();
