// Analytics charts: occupancy over time, the dwell histogram, entries per hour of day (Recharts).

import { Text, useComputedColorScheme } from '@mantine/core';
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { HistogramBin, OccupancyPoint } from '../../api/analytics';

function useAxis(): string {
  return useComputedColorScheme('dark') === 'dark' ? '#aaa' : '#555';
}

/** A bucket start as a short local label: the time of day for short ranges, the date otherwise. */
export function bucketLabel(iso: string, bucketS: number): string {
  const d = new Date(iso);
  if (bucketS >= 86400) return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** "0–5 s", "5–15 s", …, "≥ 600 s". */
export function binLabel(bin: HistogramBin): string {
  const fmt = (s: number) => (s >= 60 && s % 60 === 0 ? `${s / 60} min` : `${s} s`);
  return bin.to_s == null ? `≥ ${fmt(bin.from_s)}` : `${bin.from_s}–${fmt(bin.to_s)}`;
}

export function OccupancyChart({ series, bucketS, label }: { series: OccupancyPoint[]; bucketS: number; label: string }) {
  const axis = useAxis();
  if (!series.length) return <Text c="dimmed" size="sm" data-testid="occupancy-empty">No one was seen in this range.</Text>;
  const peak = Math.max(...series.map((p) => p.peak));
  const data = series.map((p) => ({ t: bucketLabel(p.t, bucketS), mean: Number(p.mean.toFixed(2)), peak: p.peak }));
  return (
    <div style={{ width: '100%', height: 260 }} role="img" data-testid="occupancy-chart" data-points={series.length}
      aria-label={`${label}: ${series.length} buckets, peak ${peak} people`}>
      <ResponsiveContainer>
        <LineChart data={data}>
          <CartesianGrid strokeDasharray="3 3" opacity={0.3} />
          <XAxis dataKey="t" stroke={axis} minTickGap={24} />
          <YAxis allowDecimals={false} stroke={axis} />
          <Tooltip />
          <Legend />
          <Line type="monotone" dataKey="mean" name="mean people" stroke="var(--mantine-color-blue-5)" dot={false} isAnimationActive={false} />
          <Line type="stepAfter" dataKey="peak" name="peak people" stroke="var(--mantine-color-orange-5)" dot={false} isAnimationActive={false} />
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}

export function DwellHistogram({ bins, label }: { bins: HistogramBin[]; label: string }) {
  const axis = useAxis();
  const data = bins.map((b) => ({ bin: binLabel(b), visits: b.visits }));
  return (
    <div style={{ width: '100%', height: 200 }} role="img" data-testid="dwell-histogram"
      aria-label={`${label}: ${data.map((d) => `${d.bin} ${d.visits}`).join(', ')}`}>
      <ResponsiveContainer>
        <BarChart data={data}>
          <CartesianGrid strokeDasharray="3 3" opacity={0.3} />
          <XAxis dataKey="bin" stroke={axis} interval={0} fontSize={11} />
          <YAxis allowDecimals={false} stroke={axis} />
          <Tooltip />
          <Bar dataKey="visits" fill="var(--mantine-color-teal-6)" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

export function HourOfDayChart({ hours, timezone }: { hours: number[]; timezone: string }) {
  const axis = useAxis();
  const data = hours.map((n, h) => ({ hour: String(h).padStart(2, '0'), entries: n }));
  const busiest = hours.indexOf(Math.max(...hours));
  return (
    <div style={{ width: '100%', height: 200 }} role="img" data-testid="hour-chart"
      aria-label={`Entries per hour of day (${timezone})${hours.some((n) => n > 0) ? `, busiest ${busiest}:00` : ', none'}`}>
      <ResponsiveContainer>
        <BarChart data={data}>
          <CartesianGrid strokeDasharray="3 3" opacity={0.3} />
          <XAxis dataKey="hour" stroke={axis} fontSize={11} />
          <YAxis allowDecimals={false} stroke={axis} />
          <Tooltip />
          <Bar dataKey="entries" fill="var(--mantine-color-grape-6)" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
