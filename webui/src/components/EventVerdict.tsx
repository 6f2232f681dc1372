import { useState } from 'react';
import { Badge, Button, Group, Text } from '@mantine/core';
import { describeError } from '../api/client';
import type { TrainingLabel } from '../api/types';

export const LABELLABLE = ['pickup', 'concealment', 'bypass'];

/** Confirm / reject buttons for a behaviour event; the verdict is stored as a training label. */
export function EventVerdict({ eventId, type, review }: {
  eventId: string; type: string; review: (id: string, verdict: 'confirm' | 'reject') => Promise<TrainingLabel>;
}) {
  const [label, setLabel] = useState<TrainingLabel | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (!LABELLABLE.includes(type)) return <Text size="xs" c="dimmed">—</Text>;
  async function give(verdict: 'confirm' | 'reject') {
    try {
      setLabel(await review(eventId, verdict));
      setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  }
  return (
    <Group gap={4} wrap="nowrap">
      <Button size="compact-xs" variant="light" color="green" onClick={() => void give('confirm')} aria-label={`Confirm event ${eventId}`}>Confirm</Button>
      <Button size="compact-xs" variant="light" color="gray" onClick={() => void give('reject')} aria-label={`Reject event ${eventId}`}>Reject</Button>
      {label && <Badge size="sm" variant="outline">labelled {label.label}</Badge>}
      {error && <Text size="xs" c="red" role="alert">{error}</Text>}
    </Group>
  );
}
