// Behaviour shared by every page: styles, the live notification badge, confirmed forms.

import "./styles.css";

import { badgeSetUnread } from "./lib/badge";
import { LIVE_EVENT, LIVE_STATUS } from "./lib/events";
import { connectLive } from "./lib/live";

function startLiveBadge(badge: HTMLElement): () => void {
  return connectLive({
    onEvent: (event) => {
      if ("unread_count" in event) {
        badgeSetUnread(badge, event.unread_count);
      }
      window.dispatchEvent(new CustomEvent(LIVE_EVENT, { detail: event }));
    },
    onStatus: (status) => {
      document.documentElement.dataset["live"] = status;
      window.dispatchEvent(new CustomEvent(LIVE_STATUS, { detail: status }));
    },
    onSignedOut: () => {
      // Reloading lands on the sign-in page, as the session no longer exists.
      window.location.reload();
    },
  });
}

// Forms with data-confirm ask before submitting (merging patient records, for example).
function confirmForms(): void {
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    const submitter = event.submitter;
    const question = submitter?.dataset["confirm"] ?? form.dataset["confirm"];
    if (question !== undefined && !window.confirm(question)) {
      event.preventDefault();
    }
  });
}

// Buttons with data-print print the page (the patient's access report, for example).
function printButtons(): void {
  document.addEventListener("click", (event) => {
    if (event.target instanceof Element && event.target.closest("[data-print]") !== null) {
      window.print();
    }
  });
}

const badge = document.getElementById("notification-badge");
if (badge !== null) {
  let stop = startLiveBadge(badge);
  window.addEventListener("pagehide", () => {
    stop();
  });
  // A page restored from the back-forward cache had its socket closed on the way out.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      stop = startLiveBadge(badge);
    }
  });
}
confirmForms();
printButtons();
