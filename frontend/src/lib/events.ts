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

export type LiveEvent = NotificationCreated | UnreadCountChanged;

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
    default:
      return null;
  }
}
