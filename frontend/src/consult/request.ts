// The consult request form: show the target field and consent fields that apply, offer only
// the specialists who fit the specialty and title asked for, and mark consent as required
// unless an emergency waiver is ticked.

import "./consult.css";

import { element } from "../lib/dom";

function fieldOf(id: string): HTMLElement | null {
  return document.getElementById(id)?.closest<HTMLElement>(".field") ?? null;
}

function toggleTargets(select: HTMLSelectElement): void {
  const practitioner = fieldOf("id_target_practitioner");
  const department = fieldOf("id_target_department");
  if (practitioner !== null) {
    practitioner.hidden = select.value !== "specialist";
  }
  if (department !== null) {
    department.hidden = select.value !== "department";
  }
}

/** Mark a field required (attribute and the label's star) or not. */
function markRequired(field: HTMLElement, required: boolean): void {
  const input = field.querySelector<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>(
    "input, select, textarea",
  );
  input?.toggleAttribute("required", required);
  const label = field.querySelector("label");
  let mark = label?.querySelector<HTMLElement>(".required-mark") ?? null;
  if (mark === null && label !== null && label !== undefined && required) {
    mark = element("span", "required-mark", "*");
    mark.setAttribute("aria-hidden", "true");
    label.append(mark);
  }
  if (mark !== null) {
    mark.hidden = !required;
  }
}

function toggleWaiver(box: HTMLInputElement): void {
  const reason = fieldOf("id_waiver_reason");
  if (reason !== null) {
    reason.hidden = !box.checked;
    markRequired(reason, box.checked);
  }
  // Consent is what submitting needs, unless it is waived in an emergency.
  for (const input of document.querySelectorAll<HTMLElement>("[data-consent=required]")) {
    const field = input.closest<HTMLElement>(".field");
    if (field !== null) {
      markRequired(field, !box.checked);
    }
  }
}

/** Offer only the specialists of the specialty asked for, holding at least the title asked. */
function filterSpecialists(
  specialists: HTMLSelectElement,
  specialty: HTMLSelectElement,
  title: HTMLSelectElement,
): void {
  const minimum = Number(title.selectedOptions[0]?.dataset["rank"] ?? "0");
  let offered = 0;
  for (const option of specialists.options) {
    if (option.value === "") {
      continue;
    }
    const fits =
      option.dataset["specialty"] === specialty.value &&
      Number(option.dataset["titleRank"] ?? "0") >= minimum;
    option.hidden = !fits;
    option.disabled = !fits;
    offered += fits ? 1 : 0;
    if (!fits && option.selected) {
      specialists.value = "";
    }
  }
  const none = document.getElementById("no-specialist");
  const kind = document.getElementById("id_target_kind");
  if (none !== null) {
    // Before a specialty is chosen there is nothing to offer yet, and nothing to warn about.
    none.hidden =
      offered > 0 ||
      specialty.value === "" ||
      (kind instanceof HTMLSelectElement && kind.value !== "specialist");
  }
}

const target = document.getElementById("id_target_kind");
if (target instanceof HTMLSelectElement) {
  toggleTargets(target);
  target.addEventListener("change", () => {
    toggleTargets(target);
  });
}
const waiver = document.getElementById("id_emergency_waiver");
if (waiver instanceof HTMLInputElement) {
  toggleWaiver(waiver);
  waiver.addEventListener("change", () => {
    toggleWaiver(waiver);
  });
}
const specialists = document.getElementById("id_target_practitioner");
const specialty = document.getElementById("id_wanted_specialty");
const title = document.getElementById("id_minimum_title");
if (
  specialists instanceof HTMLSelectElement &&
  specialty instanceof HTMLSelectElement &&
  title instanceof HTMLSelectElement
) {
  const filter = (): void => {
    filterSpecialists(specialists, specialty, title);
  };
  filter();
  specialty.addEventListener("change", filter);
  title.addEventListener("change", filter);
  target?.addEventListener("change", filter);
}
