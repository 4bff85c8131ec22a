// The unread-notification badge in the page header (#notification-badge, data-unread).

const MAX_SHOWN = 99;

export function badgeSetUnread(badge: HTMLElement, count: number): void {
  badge.dataset["unread"] = String(count);
  badge.textContent = count > MAX_SHOWN ? `${MAX_SHOWN}+` : String(count);
  badge.hidden = count === 0;
}
