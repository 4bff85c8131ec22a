// Calendar days as every page shows them (YYYY-MM-DD), the client side of server/lib/dates.py.

const DA = /^(\d{4})(\d{2})(\d{2})$/;

/** A DICOM DA value (YYYYMMDD) as YYYY-MM-DD; anything else is returned as given. */
export function dicomDay(value: string): string {
  const found = DA.exec(value.trim());
  if (found === null) {
    return value;
  }
  const [, year, month, day] = found;
  const moment = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  // 20040231 is no day: show what the file says rather than a made-up one.
  if (moment.getUTCMonth() !== Number(month) - 1 || moment.getUTCDate() !== Number(day)) {
    return value;
  }
  return `${year}-${month}-${day}`;
}
