// Formatting helpers shared by the pages.

export function fmtDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function fmtEpoch(epochS: number | null | undefined): string {
  if (epochS == null) return '—';
  return new Date(epochS * 1000).toLocaleString();
}

export function fmtSeconds(s: number | null | undefined): string {
  if (s == null || Number.isNaN(s)) return '—';
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

export function fmtPercent(x: number | null | undefined, digits = 0): string {
  if (x == null || Number.isNaN(x)) return '—';
  return `${(x * 100).toFixed(digits)} %`;
}

export function fmtMoney(x: string | number | null | undefined): string {
  if (x == null) return '—';
  const n = typeof x === 'string' ? Number(x) : x;
  return Number.isNaN(n) ? String(x) : n.toFixed(2);
}

export function startOfToday(): Date {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d;
}
