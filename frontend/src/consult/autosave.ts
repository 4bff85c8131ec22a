// The opinion editor keeps its draft saved while the specialist types: a debounced PUT to the
// draft endpoint, with the outcome in words next to the draft's title. A failed save says so and
// leaves the text where it is; the sign button waits for a save on its way, then submits the
// fields on screen with the password (the server saves and signs them in one transaction).

import { request } from "../lib/http";

const DEBOUNCE_MS = 1500;

interface Labels {
  saving: string;
  saved: string;
  failed: string;
  offline: string;
  refused: string;
  amendment: string;
}

function labelsOf(form: HTMLFormElement): Labels {
  const data = form.dataset;
  return {
    saving: data["saving"] ?? "",
    saved: data["saved"] ?? "",
    failed: data["failed"] ?? "",
    offline: data["offline"] ?? "",
    refused: data["refused"] ?? "",
    amendment: data["amendment"] ?? "",
  };
}

function clock(): string {
  const now = new Date();
  const pad = (n: number): string => String(n).padStart(2, "0");
  return `${pad(now.getHours())}:${pad(now.getMinutes())}`;
}

function valueOf(form: HTMLFormElement, name: string): string {
  const field = form.elements.namedItem(name);
  return field instanceof HTMLTextAreaElement || field instanceof HTMLInputElement
    ? field.value
    : "";
}

/** The draft's fields as the endpoint takes them (the password is not among them). */
function sectionsOf(form: HTMLFormElement): Record<string, string | boolean> {
  const referral = form.elements.namedItem("referral_advised");
  return {
    findings: valueOf(form, "findings"),
    impression: valueOf(form, "impression"),
    recommendations: valueOf(form, "recommendations"),
    referral_advised: referral instanceof HTMLInputElement && referral.checked,
    follow_up_advice: valueOf(form, "follow_up_advice"),
    amendment_reason: valueOf(form, "amendment_reason"),
  };
}

export function bindAutosave(form: HTMLFormElement): void {
  const url = form.dataset["autosaveUrl"];
  const found = document.getElementById("draft-status");
  if (url === undefined || found === null) {
    return;
  }
  const status: HTMLElement = found;
  const endpoint: string = url;
  const labels = labelsOf(form);
  const amending = form.elements.namedItem("amendment_reason") !== null;
  let timer: number | undefined;
  let inFlight: Promise<void> | null = null;
  let lastSent = JSON.stringify(sectionsOf(form));
  let submitting = false;

  function show(text: string, failed: boolean): void {
    status.textContent = text;
    status.classList.toggle("draft-status--failed", failed);
  }

  function failed(reason: string): void {
    show(labels.failed.replace("{time}", clock()).replace("{reason}", reason), true);
  }

  async function send(sections: Record<string, string | boolean>, body: string): Promise<void> {
    show(labels.saving, false);
    let response: Response;
    try {
      response = await request(endpoint, { method: "PUT", json: sections, csrfFrom: form });
    } catch {
      failed(labels.offline);
      return;
    }
    if (response.ok) {
      lastSent = body;
      show(labels.saved.replace("{time}", clock()), false);
      return;
    }
    let fields: string[] = [];
    try {
      fields = Object.keys((await response.json()) as Record<string, unknown>);
    } catch {
      fields = [];
    }
    failed(fields.includes("amendment_reason") ? labels.amendment : labels.refused);
  }

  async function save(): Promise<void> {
    timer = undefined;
    // One save at a time, in the order typed; the latest text goes out last.
    while (inFlight !== null) {
      await inFlight;
    }
    const sections = sectionsOf(form);
    const body = JSON.stringify(sections);
    if (body === lastSent) {
      return;
    }
    if (amending && sections["amendment_reason"] === "") {
      // An amendment is saved once its reason is given; until then nothing is sent.
      failed(labels.amendment);
      return;
    }
    inFlight = send(sections, body).finally(() => {
      inFlight = null;
    });
    await inFlight;
  }

  function schedule(): void {
    if (submitting) {
      return;
    }
    window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      void save();
    }, DEBOUNCE_MS);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);

  form.addEventListener("submit", (event) => {
    window.clearTimeout(timer);
    timer = undefined;
    if (inFlight !== null) {
      // Let the save on its way land first, so it cannot arrive after the signature.
      event.preventDefault();
      const submitter = event.submitter;
      void inFlight.then(() => {
        form.requestSubmit(submitter instanceof HTMLElement ? submitter : null);
      });
      return;
    }
    submitting = true;
  });

  // Enter in the password field signs, as the button beside it does (the form's first button,
  // which Enter would press, saves the draft).
  const sign = document.querySelector<HTMLButtonElement>("button[data-sign]");
  const password = document.querySelector<HTMLInputElement>(
    "input[form='opinion-form'][type=password]",
  );
  password?.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && sign !== null) {
      event.preventDefault();
      form.requestSubmit(sign);
    }
  });

  // Leaving with a change not yet sent: send it on the way out rather than lose it.
  window.addEventListener("pagehide", () => {
    const sections = sectionsOf(form);
    const noReason = amending && valueOf(form, "amendment_reason") === "";
    if (submitting || JSON.stringify(sections) === lastSent || noReason) {
      return;
    }
    void request(endpoint, { method: "PUT", json: sections, keepalive: true, csrfFrom: form });
  });
}
