// The receipt's print button (no inline scripts: the Content-Security-Policy allows only our own files).
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("print-button");
  if (button) {
    button.addEventListener("click", function () { window.print(); });
  }
});
