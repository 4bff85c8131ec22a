// The page's sockets: one reconnecting socket client, and on it the tab's live socket to
// /ws/events/. Every reconnect waits longer than the last (exponential, with jitter, capped);
// the wait starts small again only after a connection has stayed up a while, so a server that
// accepts and then closes at once (a refused message, a crash loop) is not hammered twice a
// second from a clinic's slow link.

import { parseLiveEvent, type LiveEvent } from "./events";

export type LiveStatus = "connecting" | "connected" | "offline";

// Close codes of server/notifications/consumers.py.
const CLOSE_UNAUTHENTICATED = 4401;

export const FIRST_RETRY_MS = 1_000;
export const MAX_RETRY_MS = 30_000;
// A connection open this long counts as stable: the next drop starts from FIRST_RETRY_MS.
export const STABLE_MS = 30_000;

/** The wait before reconnect number `attempt` (0-based). */
export function retryDelay(attempt: number): number {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);
  // Jitter spreads reconnects out when a server restart drops every tab at once; ±20 % keeps
  // each wait longer than the one before until the cap.
  return base * (0.8 + Math.random() * 0.4);
}

export interface SocketHandlers {
  /** Called as each connection attempt starts. */
  onConnecting?(): void;
  /** Called on every (re)connection, once the socket is open. */
  onOpen(): void;
  onMessage(data: string): void;
  /** Called on every close; return false to stop reconnecting (e.g. forbidden, signed out). */
  onClose(event: CloseEvent): boolean;
}

export interface ReconnectingSocket {
  /** Sends when connected; returns whether it was sent. */
  send(data: string): boolean;
  readonly connected: boolean;
  /** Closes the socket for good. */
  stop(code?: number): void;
}

function socketUrl(path: string): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}${path}`;
}

/** Opens a socket to `path` on this origin and reopens it after every close, backing off. */
export function reconnectingSocket(path: string, handlers: SocketHandlers): ReconnectingSocket {
  let socket: WebSocket | null = null;
  let attempt = 0;
  let retryTimer: number | undefined;
  let stableTimer: number | undefined;
  let stopped = false;

  const open = (): void => {
    handlers.onConnecting?.();
    const ws = new WebSocket(socketUrl(path));
    socket = ws;
    ws.addEventListener("open", () => {
      stableTimer = window.setTimeout(() => {
        attempt = 0;
      }, STABLE_MS);
      handlers.onOpen();
    });
    ws.addEventListener("message", (event: MessageEvent<unknown>) => {
      if (typeof event.data === "string") {
        handlers.onMessage(event.data);
      }
    });
    ws.addEventListener("close", (closed: CloseEvent) => {
      window.clearTimeout(stableTimer);
      socket = null;
      if (stopped) {
        return;
      }
      if (!handlers.onClose(closed)) {
        stopped = true;
        return;
      }
      retryTimer = window.setTimeout(open, retryDelay(attempt));
      attempt += 1;
    });
  };

  open();
  return {
    send(data) {
      if (socket?.readyState === WebSocket.OPEN) {
        socket.send(data);
        return true;
      }
      return false;
    },
    get connected() {
      return socket?.readyState === WebSocket.OPEN;
    },
    stop(code = 1000) {
      stopped = true;
      window.clearTimeout(retryTimer);
      window.clearTimeout(stableTimer);
      socket?.close(code);
    },
  };
}

export interface LiveHandlers {
  onEvent: (event: LiveEvent) => void;
  onStatus: (status: LiveStatus) => void;
  /** The server says the session is gone (signed out, possibly on another device). */
  onSignedOut: () => void;
}

/** Opens the socket and keeps it open until the page goes away; returns a stop function. */
export function connectLive(handlers: LiveHandlers): () => void {
  const socket = reconnectingSocket("/ws/events/", {
    onConnecting: () => handlers.onStatus("connecting"),
    onOpen: () => handlers.onStatus("connected"),
    onMessage: (data) => {
      let decoded: unknown;
      try {
        decoded = JSON.parse(data);
      } catch {
        return;
      }
      const event = parseLiveEvent(decoded);
      if (event !== null) {
        handlers.onEvent(event);
      }
    },
    onClose: (closed) => {
      handlers.onStatus("offline");
      if (closed.code === CLOSE_UNAUTHENTICATED) {
        handlers.onSignedOut();
        return false;
      }
      return true;
    },
  });
  return () => socket.stop();
}
