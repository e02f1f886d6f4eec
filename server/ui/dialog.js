// confirm asks a question in a modal <dialog> with two labelled buttons,
// and resolves to true when the user confirms. While it is open, the rest
// of the page is inert and hidden from assistive technology, so that the
// dialog's buttons are the only ones there; Escape or Cancel says no.

import {h, listen} from "./dom.js";

export function confirm({title, text, ok, danger = true}) {
  return new Promise((resolve) => {
    const app = document.getElementById("app");
    const opener = document.activeElement;
    const cancelButton = h("button", {type: "button", class: "quiet"}, "Cancel");
    const okButton = h("button", {type: "button", class: danger ? "danger" : "primary"}, ok);
    const dialog = h("dialog", {class: "confirm", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text"},
      h("h2", {id: "confirm-title"}, title),
      h("p", {id: "confirm-text"}, text),
      h("div", {class: "actions"}, cancelButton, okButton));
    let answer = false;
    listen(cancelButton, "click", () => dialog.close());
    listen(okButton, "click", () => {
      answer = true;
      dialog.close();
    });
    listen(dialog, "close", () => {
      dialog.remove();
      app.inert = false;
      app.removeAttribute("aria-hidden");
      if (opener && opener.isConnected) opener.focus();
      resolve(answer);
    });
    document.body.append(dialog);
    app.inert = true;
    app.setAttribute("aria-hidden", "true");
    dialog.showModal();
    cancelButton.focus(); // the safe choice first
  });
}
