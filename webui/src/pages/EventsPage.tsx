import { useState } from 'react';
import { Button, Card, Group, Loader, Pagination, Stack, Table, Text, TextInput, Title, useComputedColorScheme } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { CartesianGrid, ResponsiveContainer, Scatter, ScatterChart, Tooltip, XAxis, YAxis, ZAxis } from 'recharts';
import { useSearchParams } from 'react-router-dom';
import { api } from '../api/client';
import { useAuth } from '../api/auth';
import { reviewEvent, type EventsPage as EventsData } from '../api/endpoints';
import { EventVerdict } from '../components/EventVerdict';
import { ErrorBanner } from '../components/ErrorBanner';
import { fmtDateTime, fmtSeconds } from '../components/format';

const PAGE = 50;
const FILTERS = [
  { key: 'camera_id', label: 'Camera', placeholder: 'site.camera' },
  { key: 'type', label: 'Type', placeholder: 'zone_enter, dwell, …' },
  { key: 'zone', label: 'Zone', placeholder: 'zone name' },
  { key: 'job_id', label: 'Job', placeholder: 'job id' },
] as const;

export function EventsPage() {
  const scheme = useComputedColorScheme('dark');
  const { can } = useAuth();
  const labelling = can('alert.acknowledge');
  const [params, setParams] = useSearchParams();
  const [draft, setDraft] = useState<Record<string, string>>(() => Object.fromEntries(FILTERS.map((f) => [f.key, params.get(f.key) ?? ''])));
  const [page, setPage] = useState(1);
  const filters = Object.fromEntries(FILTERS.map((f) => [f.key, params.get(f.key) ?? '']));
  const events = useQuery({
    queryKey: ['events', 'list', filters, page],
    queryFn: () => api.get<EventsData>('/events', { ...filters, limit: PAGE, offset: (page - 1) * PAGE }),
  });
  const apply = () => {
    const next = new URLSearchParams();
    Object.entries(draft).forEach(([k, v]) => v.trim() && next.set(k, v.trim()));
    setParams(next, { replace: true });
    setPage(1);
  };
  const rows = events.data?.data ?? [];
  const types = [...new Set(rows.map((e) => e.type))].sort();
  const points = rows.map((e) => ({ x: new Date(e.created_at).getTime(), y: types.indexOf(e.type), type: e.type, camera: e.camera_id, zone: e.zone }));
  const axis = scheme === 'dark' ? '#aaa' : '#555';

  return (
    <Stack>
      <Title order={1}>Events</Title>
      <Card withBorder padding="sm">
        <form onSubmit={(e) => { e.preventDefault(); apply(); }} aria-label="Event filters">
          <Group align="flex-end">
            {FILTERS.map((f) => (
              <TextInput key={f.key} label={f.label} placeholder={f.placeholder} value={draft[f.key]}
                onChange={(e) => setDraft({ ...draft, [f.key]: e.currentTarget.value })} />
            ))}
            <Button type="submit">Apply</Button>
            <Button variant="default" onClick={() => { setDraft(Object.fromEntries(FILTERS.map((f) => [f.key, '']))); setParams(new URLSearchParams()); }}>Clear</Button>
          </Group>
        </form>
      </Card>
      <ErrorBanner error={events.error} onRetry={() => void events.refetch()} />
      {events.isLoading && <Loader aria-label="Loading events" />}
      {rows.length > 0 && (
        <Card withBorder>
          <Title order={2} size="h4" mb="xs">Timeline (this page, by time stored)</Title>
          <div style={{ width: '100%', height: Math.max(160, 50 + types.length * 34) }} role="img"
            aria-label={`Timeline of ${rows.length} events of types ${types.join(', ')}`}>
            <ResponsiveContainer>
              <ScatterChart margin={{ left: 20, right: 20 }}>
                <CartesianGrid strokeDasharray="3 3" opacity={0.3} />
                <XAxis type="number" dataKey="x" domain={['dataMin', 'dataMax']} stroke={axis} scale="time"
                  tickFormatter={(v: number) => new Date(v).toLocaleTimeString()} name="time" />
                <YAxis type="number" dataKey="y" stroke={axis} ticks={types.map((_, i) => i)} domain={[-0.5, types.length - 0.5]}
                  tickFormatter={(v: number) => types[v] ?? ''} width={110} name="type" />
                <ZAxis range={[40, 40]} />
                <Tooltip formatter={(value: number, name: string) => (name === 'time' ? new Date(value).toLocaleString() : types[value] ?? value)} />
                <Scatter data={points} fill="var(--mantine-color-blue-5)" isAnimationActive={false} />
              </ScatterChart>
            </ResponsiveContainer>
          </div>
        </Card>
      )}
      {events.data && (
        <>
          <Text size="sm" c="dimmed">{events.data.count} events</Text>
          <Table.ScrollContainer minWidth={800}>
            <Table striped aria-label="Events" data-testid="events-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Stored</Table.Th><Table.Th>Type</Table.Th><Table.Th>Rule</Table.Th><Table.Th>Camera</Table.Th>
                  <Table.Th>Zone</Table.Th><Table.Th>Person</Table.Th><Table.Th>From – to</Table.Th><Table.Th>Confidence</Table.Th>
                  {labelling && <Table.Th>Verdict</Table.Th>}
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rows.map((e) => (
                  <Table.Tr key={e.id}>
                    <Table.Td>{fmtDateTime(e.created_at)}</Table.Td><Table.Td>{e.type}</Table.Td><Table.Td>{e.rule}</Table.Td>
                    <Table.Td>{e.camera_id}</Table.Td><Table.Td>{e.zone ?? '—'}</Table.Td><Table.Td>{e.track_id ?? '—'}</Table.Td>
                    <Table.Td>{fmtSeconds(e.t_start_s)} – {fmtSeconds(e.t_end_s)}</Table.Td><Table.Td>{e.confidence.toFixed(2)}</Table.Td>
                    {labelling && <Table.Td><EventVerdict eventId={e.id} type={e.type} review={reviewEvent} /></Table.Td>}
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          {rows.length === 0 && <Text c="dimmed">No event matches these filters.</Text>}
          {events.data.count > PAGE && <Pagination total={Math.ceil(events.data.count / PAGE)} value={page} onChange={setPage} aria-label="Event pages" />}
        </>
      )}
    </Stack>
  );
}
