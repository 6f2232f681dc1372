// The events of a video on a timeline: one marker per event, a click (or Enter) seeks the video there.

import { Box, Text, Tooltip, UnstyledButton } from '@mantine/core';
import type { EventPublic } from '../../api/types';

const COLORS: Record<string, string> = {
  zone_enter: 'teal', zone_exit: 'gray', dwell: 'blue', line_cross: 'grape', zone_sequence: 'orange', occupancy: 'yellow',
  pickup: 'cyan', concealment: 'red', bypass: 'red',
};

export function eventLabel(e: EventPublic): string {
  return `${e.type}${e.zone ? ` ${e.zone}` : ''}${e.track_id != null ? ` #${e.track_id}` : ''} at ${e.t_start_s.toFixed(1)} s`;
}

export function EventTimeline({ events, durationS, currentS, onSeek }: {
  events: EventPublic[];
  durationS: number;
  currentS: number;
  onSeek: (t: number) => void;
}) {
  if (!events.length) return <Text c="dimmed" size="sm">No events in this video.</Text>;
  const pct = (t: number) => `${Math.min(100, Math.max(0, (100 * t) / Math.max(durationS, 0.001)))}%`;
  return (
    <Box pos="relative" h={34} data-testid="event-timeline" aria-label={`Timeline of ${events.length} events`} role="group"
      style={{ background: 'var(--mantine-color-default)', borderRadius: 6, border: '1px solid var(--mantine-color-default-border)' }}>
      <Box pos="absolute" top={0} bottom={0} w={2} style={{ left: pct(currentS), background: 'var(--mantine-color-red-6)' }}
        data-testid="timeline-cursor" />
      {events.map((e) => (
        <Tooltip key={e.id} label={eventLabel(e)}>
          <UnstyledButton aria-label={`Jump to ${eventLabel(e)}`} onClick={() => onSeek(e.t_start_s)} data-event-id={e.id}
            style={{ position: 'absolute', left: pct(e.t_start_s), top: 6, width: 10, height: 20, marginLeft: -5, borderRadius: 3,
              background: `var(--mantine-color-${COLORS[e.type] ?? 'blue'}-6)` }} />
        </Tooltip>
      ))}
    </Box>
  );
}
