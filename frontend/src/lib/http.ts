// Requests to the app's own endpoints (api.py views and pages): the session cookie, Django's
// CSRF token on every request that changes something, JSON in and out, and an error answer
// put into words for the page to show.

const JSON_TYPE = "application/json";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The CSRF token of Django's hidden form field, the first in `scope` (the page by default);
 * "" when there is none (the server then refuses the request, and says so). */
export function csrfToken(scope: ParentNode = document): string {
  return scope.querySelector<HTMLInputElement>("input[name=csrfmiddlewaretoken]")?.value ?? "";
}

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** A body sent as JSON. */
  json?: unknown;
  /** A body sent as multipart/form-data (files). */
  form?: FormData;
  /** What the answer should be; JSON unless said. */
  accept?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Let the request outlive the page (a save on the way out). */
  keepalive?: boolean;
  /** Where the CSRF token is read, when the page has more than one form. */
  csrfFrom?: ParentNode;
}

/** fetch() on this origin with the session cookie; a request that changes something carries
 * the CSRF token. Resolves with any answer, as fetch does: check `ok`. */
export function request(url: string, options: RequestOptions = {}): Promise<Response> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { Accept: options.accept ?? JSON_TYPE };
  let body: BodyInit | null = null;
  if (options.json !== undefined) {
    headers["Content-Type"] = JSON_TYPE;
    body = JSON.stringify(options.json);
  } else if (options.form !== undefined) {
    body = options.form;
  }
  if (!SAFE_METHODS.has(method)) {
    headers["X-CSRFToken"] = csrfToken(options.csrfFrom);
  }
  return fetch(url, {
    method,
    credentials: "same-origin",
    headers: { ...headers, ...options.headers },
    body,
    signal: options.signal ?? null,
    keepalive: options.keepalive ?? false,
  });
}

/** The messages of an error answer's body (the API's {"detail": "…"} or {"field": ["…"]}) as
 * one line; "" when it has none (not JSON, or no messages in it). */
export function errorBodyWords(body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return "";
  }
  if (typeof parsed !== "object" || parsed === null) {
    return "";
  }
  return Object.values(parsed)
    .flat()
    .filter((message): message is string => typeof message === "string")
    .join(" ");
}

/** Why an answer is a failure, in words: its messages, else its status ("HTTP 413"), never a
 * page of HTML. `body` is the answer's text, for an XMLHttpRequest (upload progress). */
export function answerErrorWords(status: number, body: string): string {
  return errorBodyWords(body) || `HTTP ${status}`;
}

/** Why the request failed, in words (answerErrorWords of a fetch answer). */
export async function errorWords(response: Response): Promise<string> {
  const body = await response.text().catch(() => "");
  return answerErrorWords(response.status, body);
}
