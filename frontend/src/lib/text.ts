// Text the server translated, completed in the page.

/** Fills Django's named placeholders ("%(name)s") in a translated template. */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/%\((\w+)\)s/g, (_, key: string) => values[key] ?? "");
}
