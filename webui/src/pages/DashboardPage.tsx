import { useEffect, useRef, useState } from 'react';
import { Anchor, Card, Group, SimpleGrid, Skeleton, Stack, Table, Text, Title, useComputedColorScheme } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Bar, BarChart, CartesianGrid, Cell, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { Link } from 'react-router-dom';
import { api } from '../api/client';
import type { CamerasPage, Summary, SystemStatus } from '../api/endpoints';
import { SEVERITIES } from '../api/types';
import { SEVERITY_COLOR, SeverityBadge, StatusBadge } from '../components/Badges';
import { ErrorBanner } from '../components/ErrorBanner';
import { fmtDateTime, startOfToday } from '../components/format';
import { useInterest, useStream } from '../realtime/RealtimeProvider';

function Stat({ label, value, hint, testId }: { label: string; value: string | number | undefined; hint?: string; testId?: string }) {
  return (
    <Card withBorder padding="md" role="group" aria-label={label}>
      <Text size="sm" c="dimmed">{label}</Text>
      {value === undefined ? <Skeleton h={34} mt={4} /> : <Text fz={30} fw={700} data-testid={testId}>{value}</Text>}
      {hint && <Text size="xs" c="dimmed">{hint}</Text>}
    </Card>
  );
}

/** People currently in view across cameras, from the tracking stream (updated at most once a second). */
function usePeopleInView(): number | undefined {
  const counts = useRef(new Map<string, { n: number; at: number }>());
  const [total, setTotal] = useState<number | undefined>(undefined);
  useInterest('*');
  useStream((m) => {
    if (m.kind === 'tracking_update') counts.current.set(m.camera_id, { n: m.person_count, at: Date.now() });
  });
  useEffect(() => {
    const id = setInterval(() => {
      const now = Date.now();
      let sum = 0;
      counts.current.forEach((v, k) => {
        if (now - v.at > 10_000) counts.current.delete(k);
        else sum += v.n;
      });
      setTotal(sum);
    }, 1000);
    return () => clearInterval(id);
  }, []);
  return total;
}

export function DashboardPage() {
  const scheme = useComputedColorScheme('dark');
  const since = startOfToday().toISOString();
  const system = useQuery({ queryKey: ['system-status'], queryFn: () => api.get<SystemStatus>('/system/status'), refetchInterval: 10_000 });
  const cameras = useQuery({ queryKey: ['cameras', 'all'], queryFn: () => api.get<CamerasPage>('/cameras', { limit: 1000 }) });
  const summary = useQuery({ queryKey: ['summary', since], queryFn: () => api.get<Summary>('/ui/summary', { since, recent: 10 }), refetchInterval: 15_000 });
  const people = usePeopleInView();
  const online = system.data?.cameras.filter((c) => c.state === 'streaming').length;
  const bySeverity = SEVERITIES.map((s) => ({ severity: s, count: summary.data?.alerts_by_severity[s] ?? 0 }));
  const activity = [
    ...(summary.data?.recent_alerts ?? []).map((a) => ({ at: a.created_at, kind: 'alert' as const, alert: a })),
    ...(summary.data?.recent_events ?? []).map((e) => ({ at: e.created_at, kind: 'event' as const, event: e })),
  ].sort((a, b) => b.at.localeCompare(a.at)).slice(0, 12);
  const axis = scheme === 'dark' ? '#aaa' : '#555';

  return (
    <Stack>
      <Title order={1}>Dashboard</Title>
      <ErrorBanner error={system.error ?? summary.error ?? cameras.error} onRetry={() => { void system.refetch(); void summary.refetch(); }} />
      <SimpleGrid cols={{ base: 2, md: 4 }}>
        <Stat label="Cameras online" value={online === undefined ? undefined : `${online} / ${cameras.data?.count ?? '…'}`}
          hint="streaming now / configured" testId="stat-cameras" />
        <Stat label="People in view now" value={people} hint="all cameras, live" testId="stat-people" />
        <Stat label="Events today" value={summary.data?.events} testId="stat-events" />
        <Stat label="Alerts today" value={summary.data?.alerts} hint="each is a request for review" testId="stat-alerts" />
      </SimpleGrid>
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <Card withBorder>
          <Title order={2} size="h4" mb="sm">Alerts today by severity</Title>
          <div style={{ width: '100%', height: 240 }} role="img"
            aria-label={`Alerts by severity: ${bySeverity.map((b) => `${b.severity} ${b.count}`).join(', ')}`}>
            <ResponsiveContainer>
              <BarChart data={bySeverity}>
                <CartesianGrid strokeDasharray="3 3" opacity={0.3} />
                <XAxis dataKey="severity" stroke={axis} />
                <YAxis allowDecimals={false} stroke={axis} />
                <Tooltip />
                <Bar dataKey="count" isAnimationActive={false}>
                  {bySeverity.map((b) => <Cell key={b.severity} fill={`var(--mantine-color-${SEVERITY_COLOR[b.severity]}-6)`} />)}
                </Bar>
              </BarChart>
            </ResponsiveContainer>
          </div>
        </Card>
        <Card withBorder>
          <Title order={2} size="h4" mb="sm">Recent activity</Title>
          {activity.length === 0 ? (
            <Text c="dimmed" size="sm">{summary.isLoading ? 'Loading…' : 'Nothing yet today.'}</Text>
          ) : (
            <Table.ScrollContainer minWidth={360}>
              <Table striped highlightOnHover aria-label="Recent activity">
                <Table.Thead>
                  <Table.Tr><Table.Th>When</Table.Th><Table.Th>What</Table.Th><Table.Th>Where</Table.Th></Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {activity.map((row) => row.kind === 'alert' ? (
                    <Table.Tr key={`a-${row.alert.id}`}>
                      <Table.Td>{fmtDateTime(row.at)}</Table.Td>
                      <Table.Td>
                        <Group gap={6}><SeverityBadge severity={row.alert.severity} />
                          <Anchor component={Link} to={`/alerts/${row.alert.id}`} size="sm">alert</Anchor>
                          <StatusBadge status={row.alert.status} /></Group>
                      </Table.Td>
                      <Table.Td>{row.alert.camera_id ?? row.alert.job_id ?? '—'}</Table.Td>
                    </Table.Tr>
                  ) : (
                    <Table.Tr key={`e-${row.event.id}`}>
                      <Table.Td>{fmtDateTime(row.at)}</Table.Td>
                      <Table.Td>{row.event.type}{row.event.zone ? ` · ${row.event.zone}` : ''}</Table.Td>
                      <Table.Td>{row.event.camera_id}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )}
        </Card>
      </SimpleGrid>
      <Card withBorder>
        <Title order={2} size="h4" mb="sm">Camera health</Title>
        {system.data && system.data.cameras.length === 0 && <Text c="dimmed" size="sm">No camera is running.</Text>}
        <Group gap="xs">
          {system.data?.cameras.map((c) => (
            <Card key={c.camera_id} withBorder padding="xs">
              <Group gap={6}><Text size="sm" fw={600}>{c.camera_id}</Text><StatusBadge status={c.state} /></Group>
              <Text size="xs" c="dimmed">{c.fps_out != null ? `${c.fps_out.toFixed(1)} fps analysed` : ''}{c.error ? ` · ${c.error}` : ''}</Text>
            </Card>
          ))}
        </Group>
      </Card>
    </Stack>
  );
}
