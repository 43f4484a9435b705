// The public look-up: a case code may end in the check character X, which a phone's number pad cannot type.
// The "X" button (shown only when this script runs) appends it and gives the field a text keyboard.
document.querySelectorAll("[data-append-x]").forEach(function (button) {
  var input = document.getElementById(button.getAttribute("data-append-x"));
  if (!input) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    var value = input.value.replace(/\s+$/, "");
    if (!/[xX]$/.test(value)) input.value = value + "X";
    input.setAttribute("inputmode", "text");
    input.focus();
  });
});
