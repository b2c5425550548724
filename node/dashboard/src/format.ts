/**
 * How values are shown: amounts in the asset's decimal units with its
 * code and thousands separators, times in UTC, long addresses and hashes
 * shortened (the full value is on hover and copied by the copy button).
 */

/** "1234567.50" → "1,234,567.50" (exact: text in, text out). */
export function groupDecimal(decimal: string): string {
  const m = /^([+-]?)(\d+)(\.\d+)?$/.exec(decimal);
  if (!m) return decimal;
  return m[1]! + m[2]!.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (m[3] ?? '');
}

/** "1,234.50 CNY". */
export function money(decimal: string | null | undefined, asset: string | null | undefined): string {
  if (decimal === null || decimal === undefined || decimal === '') return '—';
  return asset ? `${groupDecimal(decimal)} ${asset}` : groupDecimal(decimal);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** "2026-12-06 09:30:15 UTC". */
export function utc(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

/** "ht1qxy…k3p9" (addresses) or "5fc1018f…fc028" (hashes, keys). */
export function shorten(value: string, head = 8, tail = 6): string {
  if (value.length <= head + tail + 1) return value;
  return `${value.slice(0, head)}…${value.slice(-tail)}`;
}

/** A duration in words: "10 min", "1 d 2 h". */
export function duration(secs: number): string {
  if (!Number.isFinite(secs) || secs <= 0) return '0 s';
  const d = Math.floor(secs / 86_400);
  const h = Math.floor((secs % 86_400) / 3_600);
  const m = Math.floor((secs % 3_600) / 60);
  const s = Math.floor(secs % 60);
  const parts = [d && `${d} d`, h && `${h} h`, m && `${m} min`, s && `${s} s`].filter(Boolean) as string[];
  return parts.slice(0, 2).join(' ');
}

/** The value of an `<input type="datetime-local">` read as UTC, in ms; null when empty. */
export function parseUtcInput(value: string): number | null {
  if (!value) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) throw new Error(`${value} is not a date and time`);
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
}

/** ms → the value of an `<input type="datetime-local">` in UTC. */
export function utcInputValue(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '';
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** Today's date (YYYY-MM-DD) at `offsetSeconds` east of UTC. */
export function todayAt(offsetSeconds: number, nowMs = Date.now()): string {
  const d = new Date(nowMs + offsetSeconds * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** The UTC offset in words: "+08:00". */
export function offsetText(offsetSeconds: number): string {
  const sign = offsetSeconds < 0 ? '-' : '+';
  const a = Math.abs(offsetSeconds);
  return `${sign}${pad(Math.floor(a / 3600))}:${pad(Math.floor((a % 3600) / 60))}`;
}
