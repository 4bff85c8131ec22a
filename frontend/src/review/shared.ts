// Shared review of a consult's study: the lead's view, pointer and annotations go to everyone
// present over the consult's socket; followers' viewports follow and take no input. The lead's
// annotations are saved with the consult over REST; key images are rendered here and uploaded.

import "./review.css";

import { element, readJsonScript } from "../lib/dom";
import { errorWords, request } from "../lib/http";
import { socketOpen, type Socket } from "../lib/socket";
import { fill } from "../lib/text";
import type { ViewerConfig } from "../viewer/config";
import type { PointerPosition, SavedAnnotation, ViewerHandle, ViewState } from "../viewer/handle";
import {
  parseReviewMessage,
  pointerSendable,
  viewStateSendable,
  type ReviewClientMessage,
  type ReviewServerMessage,
  type ReviewState,
} from "./messages";

interface ReviewLabels {
  connecting: string;
  offline: string;
  participants: string;
  leads: string;
  you: string;
  youLead: string;
  following: string;
  handOver: string;
  handOverButton: string;
  pointer: string;
  keyImage: string;
  keyImageCaption: string;
  keyImageAdded: string;
  keyImageFailed: string;
  /** Why the key image button is disabled: the diagnostic image is not displayed. */
  keyImageUnavailable: string;
  saveFailed: string;
  refused: string;
  ended: string;
}

interface ReviewConfig {
  consultId: number;
  studyInstanceUid: string;
  userId: number;
  socketPath: string;
  annotationsUrl: string;
  /** Null when this user may not add key images to the opinion. */
  keyImagesUrl: string | null;
  keyImageMaxBytes: number;
  labels: ReviewLabels;
}

// Pings keep this socket counted as present in the review: the server forgets a socket it has
// not heard from for a minute (REVIEW_PING_SECONDS in consult/services/review.py).
const PING_MS = 20_000;
// At most one view or pointer message per this many milliseconds (about two frames).
const SEND_INTERVAL_MS = 30;
// A follower hides the lead's pointer when it has not moved for this long.
const POINTER_HIDE_MS = 3_000;
const ANNOTATION_SAVE_DELAY_MS = 400;

/** Calls `send` with the latest value at most once per interval, always sending the last one. */
function throttled<T>(send: (value: T) => void): (value: T) => void {
  let last = 0;
  let pending: { value: T } | null = null;
  let timer: number | undefined;
  const flush = (): void => {
    timer = undefined;
    if (pending !== null) {
      last = performance.now();
      const { value } = pending;
      pending = null;
      send(value);
    }
  };
  return (value: T) => {
    pending = { value };
    const wait = SEND_INTERVAL_MS - (performance.now() - last);
    if (wait <= 0 && timer === undefined) {
      flush();
    } else if (timer === undefined) {
      timer = window.setTimeout(flush, Math.max(wait, 0));
    }
  };
}

interface Bar {
  status: HTMLParagraphElement;
  people: HTMLUListElement;
  handover: HTMLFormElement;
  handoverTo: HTMLSelectElement;
  keyImage: HTMLFormElement | null;
  keyImageCaption: HTMLInputElement | null;
  notice: HTMLParagraphElement;
}

function buildBar(root: HTMLElement, config: ReviewConfig): Bar {
  const labels = config.labels;
  const status = root.querySelector<HTMLParagraphElement>(".review-status") ?? element("p", "review-status");
  const people = element("ul", "review-people");
  people.setAttribute("aria-label", labels.participants);
  const handover = element("form", "review-handover");
  handover.hidden = true;
  const handoverTo = element("select", "review-handover-to");
  handoverTo.setAttribute("aria-label", labels.handOver);
  handover.append(handoverTo, element("button", "button button--secondary", labels.handOverButton));
  let keyImage: HTMLFormElement | null = null;
  let keyImageCaption: HTMLInputElement | null = null;
  if (config.keyImagesUrl !== null) {
    keyImage = element("form", "review-key-image");
    keyImageCaption = element("input", "review-key-image-caption");
    keyImageCaption.maxLength = 200;
    keyImageCaption.placeholder = labels.keyImageCaption;
    keyImageCaption.setAttribute("aria-label", labels.keyImageCaption);
    keyImage.append(keyImageCaption, element("button", "button", labels.keyImage));
  }
  const notice = element("p", "review-notice");
  notice.setAttribute("role", "status");
  root.append(people, handover, ...(keyImage ? [keyImage] : []), notice);
  return { status, people, handover, handoverTo, keyImage, keyImageCaption, notice };
}

/** Joins the review of the page's study and keeps following or leading until the page goes. */
export function startSharedReview(handle: ViewerHandle, viewerConfig: ViewerConfig): void {
  const root = document.getElementById("review");
  if (root === null) {
    return;
  }
  const config = readJsonScript<ReviewConfig>("review-config");
  const labels = config.labels;
  const bar = buildBar(root, config);
  let socket: Socket<ReviewClientMessage> | null = null;
  let review: ReviewState | null = null;
  let leading = false;
  let firstJoin = true;
  let pointerTimer: number | undefined;
  // What the server holds, by annotation UID: the lead saves only what differs from it.
  let saved = new Map<string, string>();
  // Followers apply the latest view only; states arriving meanwhile replace each other.
  let applying = false;
  let nextView: ViewState | null = null;

  const send = (message: ReviewClientMessage): void => {
    socket?.send(message);
  };
  // A state with NaN in it (a render that failed) is kept back: the followers keep the last
  // good one, and the server never sees nulls where numbers belong.
  const sendView = throttled((state: ViewState) => {
    if (viewStateSendable(state)) {
      send({ type: "review.view", state });
    } else {
      root.dataset["viewHeldBack"] = String(Number(root.dataset["viewHeldBack"] ?? "0") + 1);
    }
  });
  const sendPointer = throttled((pointer: PointerPosition) => {
    if (pointerSendable(pointer)) {
      send({ type: "review.pointer", pointer });
    }
  });

  const nameOf = (userId: number | null): string =>
    review?.participants.find((p) => p.user_id === userId)?.name ?? "";

  const render = (): void => {
    if (review === null) {
      return;
    }
    root.dataset["lead"] = String(review.lead_user_id ?? "");
    root.dataset["role"] = leading ? "lead" : "follower";
    bar.status.textContent = leading
      ? labels.youLead
      : fill(labels.following, { name: nameOf(review.lead_user_id) });
    bar.people.replaceChildren(
      ...review.participants.map((person) => {
        const item = element("li", "review-person", person.name);
        item.dataset["userId"] = String(person.user_id);
        if (person.user_id === config.userId) {
          item.append(element("span", "review-tag", labels.you));
        }
        if (person.user_id === review?.lead_user_id) {
          item.classList.add("review-person--lead");
          item.append(element("span", "review-tag review-tag--lead", labels.leads));
        }
        return item;
      }),
    );
    const others = review.participants.filter((p) => p.user_id !== config.userId);
    bar.handover.hidden = !leading || others.length === 0;
    bar.handoverTo.replaceChildren(
      ...others.map((person) => {
        const option = element("option", "", person.name);
        option.value = String(person.user_id);
        return option;
      }),
    );
  };

  const applyLatestView = async (): Promise<void> => {
    if (applying) {
      return;
    }
    applying = true;
    try {
      while (nextView !== null && !leading) {
        const state = nextView;
        nextView = null;
        await handle.applyViewState(state);
      }
    } catch (error) {
      bar.notice.textContent = error instanceof Error ? error.message : String(error);
    } finally {
      applying = false;
    }
  };

  const becomeRole = (state: ReviewState): void => {
    const wasLeading = leading;
    review = state;
    leading = state.lead_user_id === config.userId;
    handle.setInteractive(leading);
    if (leading) {
      nextView = null;
      if (!wasLeading) {
        handle.showRemotePointer(null, "");
      }
      // Whoever just joined (or reconnected) needs the lead's view and annotations now, not at
      // the next change; after `ready`, so the saved annotations are on screen first.
      void handle.ready.then(() => {
        if (leading) {
          sendView(handle.viewState());
          send({ type: "review.annotations", annotations: handle.annotations() });
        }
      });
    }
    render();
  };

  const saveAnnotations = async (list: SavedAnnotation[]): Promise<void> => {
    const now = new Map(list.map((a) => [a.annotationUid, JSON.stringify(a)]));
    const requests: Promise<Response>[] = [];
    for (const annotation of list) {
      if (saved.get(annotation.annotationUid) === now.get(annotation.annotationUid)) {
        continue;
      }
      const body = {
        study_instance_uid: config.studyInstanceUid,
        series_instance_uid: annotation.seriesInstanceUid,
        sop_instance_uid: annotation.sopInstanceUid,
        tool: annotation.tool,
        annotation: annotation.data,
      };
      requests.push(
        request(`${config.annotationsUrl}${encodeURIComponent(annotation.annotationUid)}/`, {
          method: "PUT",
          json: body,
          csrfFrom: root,
        }),
      );
    }
    for (const uid of saved.keys()) {
      if (!now.has(uid)) {
        requests.push(
          request(`${config.annotationsUrl}${encodeURIComponent(uid)}/`, {
            method: "DELETE",
            csrfFrom: root,
          }),
        );
      }
    }
    const responses = await Promise.all(requests);
    if (responses.every((response) => response.ok || response.status === 404)) {
      saved = now;
      root.dataset["annotationsSaved"] = String(now.size);
    } else {
      bar.notice.textContent = labels.saveFailed;
    }
  };

  let saveTimer: number | undefined;
  handle.onAnnotationsChange((list) => {
    if (!leading) {
      return;
    }
    send({ type: "review.annotations", annotations: list });
    window.clearTimeout(saveTimer);
    saveTimer = window.setTimeout(() => void saveAnnotations(list), ANNOTATION_SAVE_DELAY_MS);
  });
  handle.onViewStateChange((state) => {
    if (leading) {
      sendView(state);
    }
  });
  handle.onPointerMove((pointer) => {
    if (leading) {
      sendPointer(pointer);
    }
  });

  const receive = (message: ReviewServerMessage): void => {
    switch (message.type) {
      case "review.joined": {
        root.dataset["connected"] = "true";
        if (firstJoin) {
          // The annotations saved with the consult, before anyone leads them anew.
          firstJoin = false;
          saved = new Map(message.annotations.map((a) => [a.annotationUid, JSON.stringify(a)]));
          void handle.ready.then(() => handle.setAnnotations(message.annotations));
        }
        becomeRole(message.state);
        break;
      }
      case "review.state":
        becomeRole(message);
        break;
      case "review.view":
        if (!leading) {
          nextView = message.state;
          void applyLatestView();
        }
        break;
      case "review.pointer":
        if (!leading) {
          handle.showRemotePointer(message.pointer, fill(labels.pointer, { name: nameOf(message.from_user_id) }));
          window.clearTimeout(pointerTimer);
          pointerTimer = window.setTimeout(() => handle.showRemotePointer(null, ""), POINTER_HIDE_MS);
        }
        break;
      case "review.annotations":
        if (!leading) {
          saved = new Map(message.annotations.map((a) => [a.annotationUid, JSON.stringify(a)]));
          handle.setAnnotations(message.annotations);
        }
        break;
      case "review.refused":
        bar.notice.textContent = fill(labels.refused, { reason: message.reason });
        break;
      case "review.invalid":
        // A bug of this page, not something the user can act on: for the console and logs.
        console.warn("The review refused a message:", message.reason, message.fields);
        root.dataset["invalid"] = message.fields.join(" ");
        break;
    }
  };

  const open = (): void => {
    socket = socketOpen<ReviewServerMessage, ReviewClientMessage>(config.socketPath, {
      parse: parseReviewMessage,
      onMessage: receive,
      onStatus: (status) => {
        if (status === "connected") {
          send({ type: "review.join", study: config.studyInstanceUid });
        } else if (status === "offline") {
          root.dataset["connected"] = "false";
          // Until the review is rejoined nobody is followed: the viewer is the user's own again.
          leading = false;
          handle.setInteractive(true);
          handle.showRemotePointer(null, "");
          bar.status.textContent = labels.offline;
        }
      },
      // Signed out, or no longer allowed to see the consult: reconnecting cannot help.
      onEnd: () => {
        bar.status.textContent = labels.ended;
      },
      keepalive: { everyMs: PING_MS, message: { type: "review.ping" } },
    });
  };

  bar.handover.addEventListener("submit", (event) => {
    event.preventDefault();
    const to = Number(bar.handoverTo.value);
    if (to > 0) {
      send({ type: "review.handover", to_user_id: to });
    }
  });
  // Key images only of the diagnostic image: never of a preview, a failed or a blank render.
  const keyImageButton = bar.keyImage?.querySelector("button") ?? null;
  const keyImageReason = element("span", "review-key-image-reason", labels.keyImageUnavailable);
  bar.keyImage?.append(keyImageReason);
  let addingKeyImage = false;
  const markKeyImageAvailable = (): void => {
    const available = handle.quality() === "diagnostic";
    keyImageReason.hidden = available;
    if (keyImageButton !== null) {
      keyImageButton.disabled = !available || addingKeyImage;
      keyImageButton.title = available ? "" : labels.keyImageUnavailable;
    }
  };
  handle.onQualityChange(markKeyImageAvailable);
  markKeyImageAvailable();

  bar.keyImage?.addEventListener("submit", (event) => {
    event.preventDefault();
    void addKeyImage();
  });

  const addKeyImage = async (): Promise<void> => {
    const url = config.keyImagesUrl;
    if (url === null) {
      return;
    }
    if (handle.quality() !== "diagnostic") {
      markKeyImageAvailable();
      return;
    }
    addingKeyImage = true;
    markKeyImageAvailable();
    try {
      const png = await handle.snapshotPng();
      if (png.size > config.keyImageMaxBytes) {
        throw new Error(`${png.size} bytes`);
      }
      const form = new FormData();
      form.append("image", png, "key-image.png");
      form.append("study_instance_uid", config.studyInstanceUid);
      form.append("sop_instance_uid", handle.displayedSopInstanceUid());
      form.append("caption", bar.keyImageCaption?.value ?? "");
      form.append("displayed", handle.quality());
      const response = await request(url, { method: "POST", form, csrfFrom: root });
      if (!response.ok) {
        throw new Error(await errorWords(response));
      }
      bar.notice.textContent = labels.keyImageAdded;
      root.dataset["keyImages"] = String(Number(root.dataset["keyImages"] ?? "0") + 1);
      if (bar.keyImageCaption) {
        bar.keyImageCaption.value = "";
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      bar.notice.textContent = fill(labels.keyImageFailed, { reason });
    } finally {
      addingKeyImage = false;
      markKeyImageAvailable();
    }
  };

  window.addEventListener("pagehide", () => {
    send({ type: "review.leave" });
    socket?.stop(1000);
  });
  bar.status.textContent = labels.connecting;
  root.dataset["study"] = viewerConfig.studyInstanceUid;
  open();
}
