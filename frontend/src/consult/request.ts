// The consult request form: show the target field and consent fields that apply.

import "./consult.css";

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

function toggleWaiver(box: HTMLInputElement): void {
  const reason = fieldOf("id_waiver_reason");
  if (reason !== null) {
    reason.hidden = !box.checked;
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
