// Display formats: Rupiah amounts, counts, shares and dates. Amounts arrive
// as decimal strings (exact on the server); they are only shown here.

const rupiahFormat = new Intl.NumberFormat('id-ID', {
  style: 'currency',
  currency: 'IDR',
  minimumFractionDigits: 0,
  maximumFractionDigits: 0,
});
const numberFormat = new Intl.NumberFormat('id-ID');
const compactFormat = new Intl.NumberFormat('id-ID', { notation: 'compact', maximumFractionDigits: 1 });
const dateFormat = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium' });
const dateTimeFormat = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short' });

const blank = (v) => v === null || v === undefined || v === '';

/** `Rp 1.250.000` (a decimal string or a number; `-` when absent). */
export function rupiah(value) {
  if (blank(value)) return '-';
  const n = Number(value);
  return Number.isFinite(n) ? rupiahFormat.format(n).replace(/\u00a0/g, ' ') : String(value);
}

/** `Rp 2,5 jt` (for chart axes and labels). */
export function rupiahShort(value) {
  return blank(value) ? '-' : `Rp ${compactFormat.format(Number(value))}`.replace(/\u00a0/g, ' ');
}

/** `12.345` */
export function count(value) {
  return blank(value) ? '-' : numberFormat.format(Number(value));
}

/** A share 0..1 as `31%` (or `31.5%` with one digit). */
export function percent(value, digits = 0) {
  return blank(value) ? '-' : `${(Number(value) * 100).toFixed(digits)}%`;
}

/** A probability 0..1 with two decimals. */
export function probability(value) {
  return blank(value) ? '-' : Number(value).toFixed(2);
}

/** `3 Dec 2026` from an RFC 3339 date-time or a `YYYY-MM-DD` date. */
export function date(value) {
  if (blank(value)) return '-';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : dateFormat.format(d);
}

/** `3 Dec 2026, 09:40` in the browser's time zone. */
export function dateTime(value) {
  if (blank(value)) return '-';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : dateTimeFormat.format(d);
}

/** `CHAMPION` → `Champion`, `POTENTIAL_LOYAL` → `Potential loyal`. */
export function label(code) {
  if (blank(code)) return '-';
  const s = String(code).toLowerCase().replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The line under figures that come from the last model fit. */
export function asOf(report) {
  return report?.as_of
    ? `Figures as of ${dateTime(report.as_of)} (model fit ${report.generation ?? '-'}).`
    : 'No model has been fitted yet: these figures appear after the first fit.';
}

/** A channel name: `sms` → `SMS`, `email` → `Email`. */
export function channel(code) {
  return code === 'sms' ? 'SMS' : label(code);
}
