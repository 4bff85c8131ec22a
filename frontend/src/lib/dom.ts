// Building and finding the page's elements in code, the same way on every page.

/** A new element with its class and text, each set only when given. */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = "",
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className !== "") {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A button that submits no form, with its tooltip. */
export function button(className: string, text: string, title: string): HTMLButtonElement {
  const node = element("button", className, text);
  node.type = "button";
  node.title = title;
  return node;
}

/** The element with this id; throws, naming it, when the page has none. */
export function byId(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (found === null) {
    throw new Error(`#${id} is missing from the page.`);
  }
  return found;
}

/** The JSON a template embeds for the page's script (<script type="application/json" id=…>,
 * Django's json_script). The server builds it, so its shape is trusted. */
export function readJsonScript<T>(id: string): T {
  const text = byId(id).textContent;
  if (text === null) {
    throw new Error(`#${id} is missing from the page.`);
  }
  return JSON.parse(text) as T;
}
