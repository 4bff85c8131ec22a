// A small in-page dialog that asks for one line of text (the label of an arrow), in place of
// window.prompt: it follows the page's language and style, and keeps the image in view.

import { element } from "../lib/dom";

export interface AskLabels {
  ok: string;
  cancel: string;
}

/** Resolves with the text typed, or "" when the user cancels. */
export function askText(question: string, initial: string, labels: AskLabels): Promise<string> {
  const dialog = element("dialog", "viewer-ask");
  const form = element("form");
  form.method = "dialog";
  const label = element("label", "", question);
  const input = element("input");
  input.type = "text";
  input.maxLength = 200;
  input.value = initial;
  label.append(input);
  const actions = element("div", "viewer-ask-actions");
  const cancel = element("button", "", labels.cancel);
  cancel.type = "button";
  const ok = element("button", "", labels.ok);
  ok.type = "submit";
  ok.value = "ok";
  actions.append(cancel, ok);
  form.append(label, actions);
  dialog.append(form);
  document.body.append(dialog);
  cancel.addEventListener("click", () => dialog.close(""));
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" ? input.value.trim() : "");
      dialog.remove();
    });
    dialog.showModal();
    input.select();
  });
}
