import { Anchor, Badge, Button, Card, Group, Image, Loader, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { identityApi } from '../api/identity';
import { ErrorBanner } from './ErrorBanner';
import { fmtDateTime, fmtSeconds } from './format';
import { useBlobUrl } from './Media';

/** One person across cameras: their best crop, metrics, journey (visits with events and clips) and focus. */
export function PersonPanel({ globalId, onClose }: { globalId: string; onClose?: () => void }) {
  const client = useQueryClient();
  const person = useQuery({ queryKey: ['person', globalId], queryFn: () => identityApi.person(globalId), refetchInterval: 3000 });
  const journey = useQuery({ queryKey: ['journey', globalId], queryFn: () => identityApi.journey(globalId), refetchInterval: 5000 });
  const focus = useQuery({ queryKey: ['focus'], queryFn: identityApi.focus });
  const image = useBlobUrl(person.data?.image_url ? `/persons/${encodeURIComponent(globalId)}/image` : null);
  const focused = focus.data?.focused_person_id === globalId;
  async function toggleFocus() {
    await (focused ? identityApi.clearFocus() : identityApi.setFocus(globalId));
    await client.invalidateQueries({ queryKey: ['focus'] });
  }
  const p = person.data;
  const m = p?.movement_metrics;
  return (
    <Card withBorder data-testid="person-panel" aria-label={`Person ${globalId}`} role="region">
      <Group justify="space-between" mb="xs">
        <Title order={2} size="h4">Person {globalId.slice(0, 8)}</Title>
        <Group gap="xs">
          <Button size="xs" onClick={() => void toggleFocus()} variant={focused ? 'filled' : 'default'}>
            {focused ? 'Stop focus' : 'Focus in every camera'}
          </Button>
          {onClose && <Button size="xs" variant="subtle" onClick={onClose}>Close</Button>}
        </Group>
      </Group>
      <ErrorBanner error={person.error} onRetry={() => void person.refetch()} />
      {person.isLoading && <Loader size="sm" aria-label="Loading person" />}
      {p && (
        <Stack gap="xs">
          <Group align="flex-start" wrap="nowrap">
            {image.url ? <Image src={image.url} alt={`Best crop of person ${globalId.slice(0, 8)}`} h={140} w="auto" radius="sm" />
              : <Text size="sm" c="dimmed">No crop</Text>}
            <Stack gap={2}>
              <Text size="sm">First seen {fmtDateTime(p.first_detected)} · last seen {fmtDateTime(p.last_seen)}</Text>
              <Text size="sm">Tracked {fmtSeconds(p.tracking_duration)} · now on <b>{p.current_camera}</b></Text>
              {m && <Text size="sm" data-testid="person-metrics">
                {m.total_distance.toFixed(1)} m walked · {m.average_speed.toFixed(2)} m/s · dwell {fmtSeconds(m.dwell_time)}
              </Text>}
              <Group gap={4}>{p.cameras.map((c) => <Badge key={c} variant="light">{c}</Badge>)}</Group>
            </Stack>
          </Group>
          {m && Object.keys(m.dwell_s_per_zone).length > 0 && (
            <Text size="xs" c="dimmed">Dwell: {Object.entries(m.dwell_s_per_zone).map(([z, s]) => `${z} ${fmtSeconds(s)}`).join(' · ')}</Text>
          )}
          <Table aria-label="Journey" data-testid="journey">
            <Table.Thead><Table.Tr><Table.Th>Camera</Table.Th><Table.Th>From</Table.Th><Table.Th>For</Table.Th><Table.Th>Linked by</Table.Th><Table.Th>Events</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {(journey.data?.visits ?? []).map((v) => (
                <Table.Tr key={`${v.camera}-${v.track_id}-${v.first_seen}`}>
                  <Table.Td>{v.camera} #{v.track_id}</Table.Td>
                  <Table.Td>{fmtDateTime(v.first_seen)}</Table.Td>
                  <Table.Td>{fmtSeconds(v.duration_s)}</Table.Td>
                  <Table.Td>{v.verdict.replace('_', ' ')}{v.score != null ? ` (${v.score.toFixed(2)})` : ''}</Table.Td>
                  <Table.Td>
                    {v.events.map((e) => e.type).join(', ') || '—'}
                    {v.clips.map((c) => <Anchor key={c.event_id} ml={4} size="xs" href={`/events?event=${c.event_id}`}>clip</Anchor>)}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Stack>
      )}
    </Card>
  );
}
