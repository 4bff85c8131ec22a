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

/** A message from this socket was not understood and was dropped; the socket stays open. */
export interface ReviewInvalid {
  type: "review.invalid";
  reason: string;
  /** What was wrong, as dotted paths into the message, e.g. "review.view.state.zoom". */
  fields: string[];
}

export type ReviewServerMessage =
  | ReviewState
  | ReviewJoined
  | ReviewViewRelayed
  | ReviewPointerRelayed
  | ReviewAnnotationsRelayed
  | ReviewRefusal
  | ReviewInvalid;

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
  "review.invalid",
]);

/** The review message in a decoded socket frame, or null for the room's other events. The
 * server is trusted for the shape: it builds every message from the pydantic models named
 * above. */
export function parseReviewMessage(decoded: unknown): ReviewServerMessage | null {
  if (typeof decoded !== "object" || decoded === null) {
    return null;
  }
  const type = (decoded as { type?: unknown }).type;
  return typeof type === "string" && SERVER_TYPES.has(type) ? (decoded as ReviewServerMessage) : null;
}

const finite = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value);

/** Whether a view state can be sent as it is: every number finite (JSON would turn NaN and
 * Infinity into null, which the server refuses), zoom and window width positive. */
export function viewStateSendable(state: ViewState): boolean {
  return (
    typeof state.seriesInstanceUid === "string" &&
    state.seriesInstanceUid !== "" &&
    Number.isInteger(state.imageIndex) &&
    state.imageIndex >= 0 &&
    finite(state.windowCenter) &&
    finite(state.windowWidth) &&
    state.windowWidth > 0 &&
    finite(state.zoom) &&
    state.zoom > 0 &&
    state.pan.length === 2 &&
    state.pan.every(finite)
  );
}

/** Whether a pointer position can be sent: both coordinates finite. */
export function pointerSendable(pointer: PointerPosition): boolean {
  return finite(pointer.x) && finite(pointer.y);
}
