// A small in-page dialog that asks for one line of text (the label of an arrow), in place of
// window.prompt: it follows the page's language and style, and keeps the image in view.

export interface AskLabels {
  ok: string;
  cancel: string;
}

/** Resolves with the text typed, or "" when the user cancels. */
export function askText(question: string, initial: string, labels: AskLabels): Promise<string> {
  const dialog = document.createElement("dialog");
  dialog.className = "viewer-ask";
  const form = document.createElement("form");
  form.method = "dialog";
  const label = document.createElement("label");
  label.textContent = question;
  const input = document.createElement("input");
  input.type = "text";
  input.maxLength = 200;
  input.value = initial;
  label.append(input);
  const actions = document.createElement("div");
  actions.className = "viewer-ask-actions";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = labels.cancel;
  const ok = document.createElement("button");
  ok.type = "submit";
  ok.value = "ok";
  ok.textContent = labels.ok;
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
