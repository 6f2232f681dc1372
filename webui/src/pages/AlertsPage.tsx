import { useState } from 'react';
import { Anchor, Badge, Button, Card, Group, Loader, Pagination, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../api/client';
import type { AlertsPage as AlertsPageData } from '../api/endpoints';
import { ALERT_STATUSES, SEVERITIES, type AlertStats } from '../api/types';
import { SeverityBadge, StatusBadge } from '../components/Badges';
import { ErrorBanner } from '../components/ErrorBanner';
import { fmtDateTime } from '../components/format';

const PAGE = 25;

export function AlertsPage() {
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const status = params.get('status') ?? 'pending';
  const severity = params.get('severity') ?? '';
  const camera = params.get('camera_id') ?? '';
  const [page, setPage] = useState(1);
  const set = (key: string, value: string | null) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
    setPage(1);
  };
  const queue = status === 'pending' && !severity && !camera;
  const alerts = useQuery({
    queryKey: ['alerts', 'list', status, severity, camera, page],
    queryFn: () => queue
      ? api.get<AlertsPageData>('/alerts/pending', { limit: PAGE, offset: (page - 1) * PAGE })
      : api.get<AlertsPageData>('/alerts', { status: status === 'all' ? undefined : status, severity, camera_id: camera, limit: PAGE, offset: (page - 1) * PAGE }),
    refetchInterval: 15_000,
  });
  const stats = useQuery({ queryKey: ['alerts', 'stats'], queryFn: () => api.get<AlertStats>('/alerts/stats') });

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Alerts</Title>
        {stats.data && (
          <Group gap="xs" aria-label="Alert counts">
            <Badge variant="light" color="yellow">{stats.data.by_status.pending ?? 0} pending</Badge>
            <Badge variant="light">{stats.data.total} total</Badge>
            {stats.data.mean_time_to_acknowledge_s != null && (
              <Badge variant="light" color="gray">mean time to acknowledge {Math.round(stats.data.mean_time_to_acknowledge_s)} s</Badge>
            )}
          </Group>
        )}
      </Group>
      <Text size="sm" c="dimmed">Each alert is a request for human review, never a verdict. The queue shows the oldest pending first.</Text>
      <Card withBorder padding="sm">
        <Group align="flex-end">
          <Select label="Status" value={status} onChange={(v) => set('status', v ?? 'pending')} allowDeselect={false}
            data={[...ALERT_STATUSES.map((s) => ({ value: s, label: s === 'pending' ? 'pending (queue)' : s })), { value: 'all', label: 'any status' }]} />
          <Select label="Severity" value={severity || null} onChange={(v) => set('severity', v)} clearable placeholder="any"
            data={SEVERITIES} />
          <TextInput label="Camera" placeholder="site.camera" value={camera} onChange={(e) => set('camera_id', e.currentTarget.value)} />
          <Button variant="default" onClick={() => setParams(new URLSearchParams(), { replace: true })}>Reset filters</Button>
        </Group>
      </Card>
      <ErrorBanner error={alerts.error} onRetry={() => void alerts.refetch()} />
      {alerts.isLoading && <Loader aria-label="Loading alerts" />}
      {alerts.data && (
        <>
          <Table.ScrollContainer minWidth={700}>
            <Table striped highlightOnHover aria-label="Alerts" data-testid="alerts-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Raised</Table.Th><Table.Th>Severity</Table.Th><Table.Th>Score</Table.Th><Table.Th>Status</Table.Th>
                  <Table.Th>Camera / job</Table.Th><Table.Th>Explanation</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {alerts.data.data.map((a) => (
                  <Table.Tr key={a.id} data-alert-id={a.id} style={{ cursor: 'pointer' }} onClick={() => navigate(`/alerts/${a.id}`)}>
                    <Table.Td><Anchor component={Link} to={`/alerts/${a.id}`} aria-label={`Open alert ${a.id}`}>{fmtDateTime(a.created_at)}</Anchor></Table.Td>
                    <Table.Td><SeverityBadge severity={a.severity} /></Table.Td>
                    <Table.Td>{a.score.toFixed(2)}</Table.Td>
                    <Table.Td><StatusBadge status={a.status} /></Table.Td>
                    <Table.Td>{a.camera_id ?? a.job_id ?? '—'}</Table.Td>
                    <Table.Td><Text size="sm" lineClamp={2}>{a.explanation}</Text></Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          {alerts.data.data.length === 0 && <Text c="dimmed">No alert matches these filters.</Text>}
          {alerts.data.count > PAGE && (
            <Pagination total={Math.ceil(alerts.data.count / PAGE)} value={page} onChange={setPage} aria-label="Alert pages" />
          )}
        </>
      )}
    </Stack>
  );
}
