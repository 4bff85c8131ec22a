// The shared review's socket messages; mirrors the review section of consult/events.py.

import type { PointerPosition, SavedAnnotation, ViewState } from "../viewer/handle";

export interface ReviewParticipant {
  user_id: number;
  name: string;
}

export interface ReviewState {
  type: "review.state";
  consult_id: number;
  study: string;
  lead_user_id: number | null;
  participants: ReviewParticipant[];
}

export interface ReviewJoined {
  type: "review.joined";
  user_id: number;
  state: ReviewState;
  annotations: SavedAnnotation[];
}

export interface ReviewViewRelayed {
  type: "review.view";
  from_user_id: number;
  state: ViewState;
}

export interface ReviewPointerRelayed {
  type: "review.pointer";
  from_user_id: number;
  pointer: PointerPosition | null;
}

export interface ReviewAnnotationsRelayed {
  type: "review.annotations";
  from_user_id: number;
  annotations: SavedAnnotation[];
}

export interface ReviewRefusal {
  type: "review.refused";
  reason: string;
}

export type ReviewServerMessage =
  | ReviewState
  | ReviewJoined
  | ReviewViewRelayed
  | ReviewPointerRelayed
  | ReviewAnnotationsRelayed
  | ReviewRefusal;

export type ReviewClientMessage =
  | { type: "review.join"; study: string }
  | { type: "review.leave" }
  | { type: "review.ping" }
  | { type: "review.handover"; to_user_id: number }
  | { type: "review.view"; state: ViewState }
  | { type: "review.pointer"; pointer: PointerPosition | null }
  | { type: "review.annotations"; annotations: SavedAnnotation[] };

const SERVER_TYPES = new Set([
  "review.state",
  "review.joined",
  "review.view",
  "review.pointer",
  "review.annotations",
  "review.refused",
]);

/** The review message in a socket frame, or null for the room's other events. The server is
 * trusted for the shape: it builds every message from the pydantic models named above. */
export function parseReviewMessage(raw: string): ReviewServerMessage | null {
  let decoded: unknown;
  try {
    decoded = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof decoded !== "object" || decoded === null) {
    return null;
  }
  const type = (decoded as { type?: unknown }).type;
  return typeof type === "string" && SERVER_TYPES.has(type) ? (decoded as ReviewServerMessage) : null;
}
