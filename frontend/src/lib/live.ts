// The one live socket per tab, to /ws/events/, reconnecting with capped exponential backoff.

import { parseLiveEvent, type LiveEvent } from "./events";

export type LiveStatus = "connecting" | "connected" | "offline";

// Close codes of server/notifications/consumers.py.
const CLOSE_UNAUTHENTICATED = 4401;

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

export interface LiveHandlers {
  onEvent: (event: LiveEvent) => void;
  onStatus: (status: LiveStatus) => void;
  /** The server says the session is gone (signed out, possibly on another device). */
  onSignedOut: () => void;
}

function eventsUrl(): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}/ws/events/`;
}

function retryDelay(attempt: number): number {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);
  // Jitter spreads reconnects out when a server restart drops every tab at once.
  return base * (0.8 + Math.random() * 0.4);
}

/** Opens the socket and keeps it open until the page goes away; returns a stop function. */
export function connectLive(handlers: LiveHandlers): () => void {
  let socket: WebSocket | null = null;
  let attempt = 0;
  let retryTimer: number | undefined;
  let stopped = false;

  const open = (): void => {
    handlers.onStatus("connecting");
    const ws = new WebSocket(eventsUrl());
    socket = ws;
    ws.addEventListener("open", () => {
      attempt = 0;
      handlers.onStatus("connected");
    });
    ws.addEventListener("message", (message: MessageEvent<unknown>) => {
      if (typeof message.data !== "string") {
        return;
      }
      let decoded: unknown;
      try {
        decoded = JSON.parse(message.data);
      } catch {
        return;
      }
      const event = parseLiveEvent(decoded);
      if (event !== null) {
        handlers.onEvent(event);
      }
    });
    ws.addEventListener("close", (closed: CloseEvent) => {
      socket = null;
      if (stopped) {
        return;
      }
      handlers.onStatus("offline");
      if (closed.code === CLOSE_UNAUTHENTICATED) {
        stopped = true;
        handlers.onSignedOut();
        return;
      }
      retryTimer = window.setTimeout(open, retryDelay(attempt));
      attempt += 1;
    });
  };

  const stop = (): void => {
    stopped = true;
    window.clearTimeout(retryTimer);
    socket?.close(1000);
  };

  open();
  return stop;
}
