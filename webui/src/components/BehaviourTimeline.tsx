// An alert's behaviours (pickups, concealment, bypass, …) on a common time axis.

import { Group, Stack, Text, Tooltip } from '@mantine/core';
import type { EventPublic } from '../api/types';
import { fmtSeconds } from './format';

/** One bar: `evidence.behaviours` items (`{class, t_start_s, …}`) and events both map to it. */
export interface TimelineItem {
  key: string;
  label: string;
  t_start_s: number;
  t_end_s: number;
  confidence?: number | null;
  zone?: string | null;
  explanation?: string | null;
}

export function fromBehaviours(items: unknown): TimelineItem[] {
  if (!Array.isArray(items)) return [];
  return items
    .filter((b): b is Record<string, unknown> => !!b && typeof b === 'object' && typeof (b as Record<string, unknown>).t_start_s === 'number')
    .map((b, i) => ({
      key: `b-${i}`,
      label: String(b.class ?? b.type ?? 'behaviour'),
      t_start_s: b.t_start_s as number,
      t_end_s: typeof b.t_end_s === 'number' ? b.t_end_s : (b.t_start_s as number),
      confidence: typeof b.confidence === 'number' ? b.confidence : null,
      zone: typeof b.zone === 'string' ? b.zone : null,
      explanation: typeof b.explanation === 'string' ? b.explanation : null,
    }));
}

export function fromEvents(events: EventPublic[]): TimelineItem[] {
  return events.map((e) => ({ key: e.id, label: e.type, t_start_s: e.t_start_s, t_end_s: e.t_end_s, confidence: e.confidence, zone: e.zone }));
}

const COLORS: Record<string, string> = {
  pickup: 'var(--mantine-color-blue-6)',
  concealment: 'var(--mantine-color-red-6)',
  bypass: 'var(--mantine-color-orange-6)',
  loitering: 'var(--mantine-color-yellow-6)',
  dwell: 'var(--mantine-color-yellow-6)',
  zone_enter: 'var(--mantine-color-teal-6)',
  zone_exit: 'var(--mantine-color-gray-6)',
};

export function BehaviourTimeline({ items }: { items: TimelineItem[] }) {
  if (!items.length) return <Text c="dimmed" size="sm">No behaviour was recorded for this alert.</Text>;
  const t0 = Math.min(...items.map((e) => e.t_start_s));
  const t1 = Math.max(...items.map((e) => e.t_end_s), t0 + 1);
  const span = t1 - t0;
  const sorted = [...items].sort((a, b) => a.t_start_s - b.t_start_s);
  return (
    <Stack gap={6} role="list" aria-label="Behaviour timeline" data-testid="behaviour-timeline">
      {sorted.map((e) => {
        const left = ((e.t_start_s - t0) / span) * 100;
        const width = Math.max(1, ((e.t_end_s - e.t_start_s) / span) * 100);
        const text = `${e.label}${e.zone ? ` in ${e.zone}` : ''}: ${fmtSeconds(e.t_start_s)} to ${fmtSeconds(e.t_end_s)}`
          + `${e.confidence != null ? `, confidence ${e.confidence.toFixed(2)}` : ''}${e.explanation ? ` (${e.explanation})` : ''}`;
        return (
          <Group key={e.key} gap="xs" wrap="nowrap" role="listitem" aria-label={text}>
            <Text size="xs" w={120} truncate>{e.label}{e.zone ? ` · ${e.zone}` : ''}</Text>
            <div className="timeline-row" style={{ flex: 1 }}>
              <Tooltip label={text}>
                <div className="timeline-bar" style={{ left: `${Math.min(left, 99)}%`, width: `${Math.min(width, 100 - left)}%`, background: COLORS[e.label] ?? 'var(--mantine-color-violet-6)' }} />
              </Tooltip>
            </div>
          </Group>
        );
      })}
      <Group justify="space-between"><Text size="xs" c="dimmed">{fmtSeconds(t0)}</Text><Text size="xs" c="dimmed">{fmtSeconds(t1)}</Text></Group>
    </Stack>
  );
}
