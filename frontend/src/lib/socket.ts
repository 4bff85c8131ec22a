// The one WebSocket client of every page: typed JSON messages in and out, reconnecting after
// every close with a growing wait, stopping for good on the close codes after which
// reconnecting cannot help, a liveness check, and an optional keepalive message.
//
// Every reconnect waits longer than the last (exponential, with jitter, capped); the wait starts
// small again only after a connection has stayed up a while, so a server that accepts and then
// closes at once (a refused message, a crash loop) is not hammered twice a second from a
// clinic's slow link.

// Close codes of the consumers (server/notifications/consumers.py, consult/consumers.py; the
// style guide's §4). 4400, a message the server refused, is reconnected after like any drop:
// the backoff keeps a client that resends it from looping fast.
export const CLOSE_BAD_MESSAGE = 4400;
export const CLOSE_UNAUTHENTICATED = 4401;
export const CLOSE_FORBIDDEN = 4403;

export const FIRST_RETRY_MS = 1_000;
export const MAX_RETRY_MS = 30_000;
// A connection open this long counts as stable: the next drop starts from FIRST_RETRY_MS.
export const STABLE_MS = 30_000;

// Liveness: a rural link can leave a socket that looks open but carries nothing (a NAT that
// forgot it, a tower hand-over), and the browser may not notice for many minutes. A socket that
// has heard nothing for PING_AFTER_MS sends `live.ping`, which every consumer answers with
// `live.pong` (server/lib/sockets.py); one still silent DEAD_AFTER_MS after it last heard
// anything is abandoned and reopened like any dropped socket.
export const PING_AFTER_MS = 20_000;
export const DEAD_AFTER_MS = 45_000;
const LIVENESS_CHECK_MS = 5_000;
const PING = JSON.stringify({ type: "live.ping" });

function isPong(data: unknown): boolean {
  return (
    typeof data === "object" &&
    data !== null &&
    (data as { type?: unknown }).type === "live.pong"
  );
}

export type SocketStatus = "connecting" | "connected" | "offline";

/** Why a socket stopped reconnecting: the session is gone (4401, signed out, possibly on
 * another device) or the user may no longer be here (4403). */
export type SocketEnd = "signed-out" | "forbidden";

export interface SocketOptions<In, Out> {
  /** The message in a decoded frame, or null for one this page does not use (dropped). */
  parse(data: unknown): In | null;
  onMessage(message: In): void;
  /** "connecting" as each attempt starts, "connected" once open, "offline" at every close
   * (not after stop()). */
  onStatus?(status: SocketStatus): void;
  /** Called once, after "offline", when the server closed for a reason reconnecting cannot
   * mend; the socket does not reconnect. */
  onEnd?(end: SocketEnd): void;
  /** Sent every `everyMs` while connected, for a server that forgets silent sockets. */
  keepalive?: { everyMs: number; message: Out };
}

export interface Socket<Out> {
  /** Sends when connected; returns whether it was sent. */
  send(message: Out): boolean;
  readonly connected: boolean;
  /** Closes the socket for good. */
  stop(code?: number): void;
}

/** The wait before reconnect number `attempt` (0-based). */
export function retryDelay(attempt: number): number {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);
  // Jitter spreads reconnects out when a server restart drops every tab at once; ±20 % keeps
  // each wait longer than the one before until the cap.
  return base * (0.8 + Math.random() * 0.4);
}

function socketEnd(code: number): SocketEnd | null {
  if (code === CLOSE_UNAUTHENTICATED) {
    return "signed-out";
  }
  return code === CLOSE_FORBIDDEN ? "forbidden" : null;
}

function socketUrl(path: string): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}${path}`;
}

function decoded(data: unknown): unknown {
  if (typeof data !== "string") {
    return undefined;
  }
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}

/** Opens a socket to `path` on this origin and reopens it after every close, backing off,
 * until stop() or a close code that ends it. */
export function socketOpen<In, Out = never>(
  path: string,
  options: SocketOptions<In, Out>,
): Socket<Out> {
  let socket: WebSocket | null = null;
  let attempt = 0;
  let retryTimer: number | undefined;
  let stableTimer: number | undefined;
  let keepaliveTimer: number | undefined;
  let livenessTimer: number | undefined;
  let stopped = false;

  const send = (message: Out): boolean => {
    if (socket?.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  };

  const clearTimers = (): void => {
    window.clearTimeout(stableTimer);
    window.clearInterval(keepaliveTimer);
    window.clearInterval(livenessTimer);
  };

  const reopenLater = (): void => {
    retryTimer = window.setTimeout(open, retryDelay(attempt));
    attempt += 1;
  };

  const open = (): void => {
    options.onStatus?.("connecting");
    const ws = new WebSocket(socketUrl(path));
    socket = ws;
    let lastHeard = Date.now();
    let pinged = false;
    let abandoned = false;
    const checkLiveness = (): void => {
      const silent = Date.now() - lastHeard;
      if (silent >= DEAD_AFTER_MS) {
        // The close event of a dead socket may come minutes later, or never: reopen now and
        // ignore it when it comes.
        abandoned = true;
        clearTimers();
        socket = null;
        ws.close();
        options.onStatus?.("offline");
        reopenLater();
      } else if (silent >= PING_AFTER_MS && !pinged) {
        pinged = true;
        ws.send(PING);
      }
    };
    ws.addEventListener("open", () => {
      lastHeard = Date.now();
      livenessTimer = window.setInterval(checkLiveness, LIVENESS_CHECK_MS);
      stableTimer = window.setTimeout(() => {
        attempt = 0;
      }, STABLE_MS);
      options.onStatus?.("connected");
      const keepalive = options.keepalive;
      if (keepalive !== undefined) {
        window.clearInterval(keepaliveTimer);
        keepaliveTimer = window.setInterval(() => send(keepalive.message), keepalive.everyMs);
      }
    });
    ws.addEventListener("message", (event: MessageEvent<unknown>) => {
      lastHeard = Date.now();
      pinged = false;
      const data = decoded(event.data);
      if (isPong(data)) {
        return;
      }
      const message = data === undefined ? null : options.parse(data);
      if (message !== null) {
        options.onMessage(message);
      }
    });
    ws.addEventListener("close", (closed: CloseEvent) => {
      if (abandoned) {
        return;
      }
      clearTimers();
      socket = null;
      if (stopped) {
        return;
      }
      options.onStatus?.("offline");
      const end = socketEnd(closed.code);
      if (end !== null) {
        stopped = true;
        options.onEnd?.(end);
        return;
      }
      reopenLater();
    });
  };

  open();
  return {
    send,
    get connected() {
      return socket?.readyState === WebSocket.OPEN;
    },
    stop(code = 1000) {
      stopped = true;
      window.clearTimeout(retryTimer);
      clearTimers();
      socket?.close(code);
    },
  };
}
