// The tab's live socket to /ws/events/ (server/notifications/consumers.py): the user's events,
// typed as lib/events.ts mirrors them, on the page's one socket client (lib/socket.ts).

import { parseLiveEvent, type LiveEvent } from "./events";
import { socketOpen, type SocketStatus } from "./socket";

export type LiveStatus = SocketStatus;

export interface LiveHandlers {
  onEvent: (event: LiveEvent) => void;
  onStatus: (status: LiveStatus) => void;
  /** The server says the session is gone (signed out, possibly on another device). */
  onSignedOut: () => void;
}

/** Opens the socket and keeps it open until the page goes away; returns a stop function. */
export function connectLive(handlers: LiveHandlers): () => void {
  // The socket is server-to-client only: nothing is sent on it, not even a keepalive.
  const socket = socketOpen<LiveEvent>("/ws/events/", {
    parse: parseLiveEvent,
    onMessage: handlers.onEvent,
    onStatus: handlers.onStatus,
    onEnd: (end) => {
      if (end === "signed-out") {
        handlers.onSignedOut();
      }
    },
  });
  return () => socket.stop();
}
