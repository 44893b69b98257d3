// The share box's copy buttons. Without script each address is still there in its field, ready
// to select; with it, a "Copy" button beside the field puts the address on the clipboard and a
// status beside it says so (read out by screen readers).
"use strict";
document.querySelectorAll("input[data-copy]").forEach((field) => {
  const label = document.querySelector(`label[for="${field.id}"]`);
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Copy";
  button.setAttribute("aria-label", `Copy ${label ? label.textContent.trim() : "the address"}`);
  const status = document.createElement("span");
  status.setAttribute("role", "status");
  field.after(button, status);
  field.addEventListener("focus", () => field.select());
  button.addEventListener("click", async () => {
    field.focus();
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      status.textContent = "Copied";
    } catch {
      // No clipboard (an old browser, or a page not served over HTTPS): the text is selected.
      status.textContent = "Selected: copy it";
    }
  });
});
