// Form fields that apply only when another field has a value (jiefen.show_if, engine/form_rules.py): the
// server renders each such field with data-show-field/-op/-value and hides it when it does not apply; this
// script shows and hides it as the user changes that field. Inputs of a hidden field are disabled, so they
// are not sent (the server ignores them anyway).
(function () {
  "use strict";

  function currentValue(form, name) {
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      if (input.type === "radio" || input.type === "checkbox") {
        if (input.checked) return input.value;
      } else {
        return input.value;
      }
    }
    return "";
  }

  function same(value, expected) {
    if (value === expected) return true;
    var a = Number(value), b = Number(expected);
    return value !== "" && expected !== "" && !isNaN(a) && !isNaN(b) && a === b;
  }

  function refresh(form) {
    var fields = form.querySelectorAll("[data-show-field]");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      var equal = same(currentValue(form, field.dataset.showField), field.dataset.showValue);
      var show = field.dataset.showOp === "!=" ? !equal : equal;
      field.hidden = !show;
      var inputs = field.querySelectorAll("input, select, textarea");
      for (var j = 0; j < inputs.length; j++) inputs[j].disabled = !show;
    }
  }

  var forms = document.querySelectorAll("form.task-form");
  for (var k = 0; k < forms.length; k++) {
    (function (form) {
      if (!form.querySelector("[data-show-field]")) return;
      form.addEventListener("change", function () { refresh(form); });
      form.addEventListener("input", function () { refresh(form); });
      refresh(form);
    })(forms[k]);
  }
})();
