// Live event messages pushed on /ws/events/, mirroring server/notifications/events.py.
// The server sends JSON objects whose `type` names the message; unknown types are ignored.

export interface NotificationCreated {
  type: "notifications.created";
  notification_id: number;
  kind: string;
  text: string;
  link: string;
  unread_count: number;
}

export interface UnreadCountChanged {
  type: "notifications.unread_count";
  unread_count: number;
}

// Mirrors consult/events.py: ids and statuses only; pages refetch what they show.
export type ConsultWorklist = "incoming" | "queue" | "my_requests" | "overdue";

export interface ConsultWorklistChanged {
  type: "consult.worklist_changed";
  worklist: ConsultWorklist;
  consult_id: number;
  status: string;
  urgency: string;
}

export interface ConsultEscalated {
  type: "consult.escalated";
  consult_id: number;
  deadline: "accept" | "opinion";
  due_at: string;
  urgency: string;
}

export type LiveEvent =
  | NotificationCreated
  | UnreadCountChanged
  | ConsultWorklistChanged
  | ConsultEscalated;

const WORKLISTS: readonly string[] = ["incoming", "queue", "my_requests", "overdue"];

function isWorklist(value: unknown): value is ConsultWorklist {
  return typeof value === "string" && WORKLISTS.includes(value);
}

function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

/** Checks the shape of one decoded message; returns null for anything this page does not use. */
export function parseLiveEvent(data: unknown): LiveEvent | null {
  if (!isRecord(data)) {
    return null;
  }
  switch (data["type"]) {
    case "notifications.created": {
      const { notification_id, kind, text, link, unread_count } = data;
      if (
        typeof notification_id === "number" &&
        typeof kind === "string" &&
        typeof text === "string" &&
        typeof link === "string" &&
        isCount(unread_count)
      ) {
        return { type: "notifications.created", notification_id, kind, text, link, unread_count };
      }
      return null;
    }
    case "notifications.unread_count": {
      const { unread_count } = data;
      return isCount(unread_count) ? { type: "notifications.unread_count", unread_count } : null;
    }
    case "consult.worklist_changed": {
      const { worklist, consult_id, status, urgency } = data;
      if (isWorklist(worklist) && isId(consult_id) && typeof status === "string" && typeof urgency === "string") {
        return { type: "consult.worklist_changed", worklist, consult_id, status, urgency };
      }
      return null;
    }
    case "consult.escalated": {
      const { consult_id, deadline, due_at, urgency } = data;
      if (
        isId(consult_id) &&
        (deadline === "accept" || deadline === "opinion") &&
        typeof due_at === "string" &&
        typeof urgency === "string"
      ) {
        return { type: "consult.escalated", consult_id, deadline, due_at, urgency };
      }
      return null;
    }
    default:
      return null;
  }
}

// main.ts owns the one socket and re-dispatches what it receives on `window`, so page modules
// listen without opening a second connection.
export const LIVE_EVENT = "yunzhen:live-event";
export const LIVE_STATUS = "yunzhen:live-status";

export function onLiveEvent(handler: (event: LiveEvent) => void): void {
  window.addEventListener(LIVE_EVENT, (dispatched) => {
    if (dispatched instanceof CustomEvent) {
      handler(dispatched.detail as LiveEvent);
    }
  });
}

/** Calls `handler` each time the socket (re)connects: events may have been missed meanwhile.
 * A page script that loads after the socket came up is called once at once, for the same
 * reason: the socket's first connection happened without it. */
export function onLiveConnected(handler: () => void): void {
  if (document.documentElement.dataset["live"] === "connected") {
    queueMicrotask(handler);
  }
  window.addEventListener(LIVE_STATUS, (dispatched) => {
    if (dispatched instanceof CustomEvent && dispatched.detail === "connected") {
      handler();
    }
  });
}
