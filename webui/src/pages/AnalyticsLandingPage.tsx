// Landing: pick a store and a date range, then open its analytics.

import { useEffect, useMemo, useState } from 'react';
import { Badge, Button, Card, Group, Select, SimpleGrid, Stack, Text, TextInput, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useNavigate } from 'react-router-dom';
import { analyticsApi, isoDay, type Environment } from '../api/analytics';
import { ErrorBanner } from '../components/ErrorBanner';

/** The last `days` days ending on the newest day with data (or today). */
export function defaultDays(env: Environment | undefined, days = 7): { first: string; last: string } {
  const last = env?.available_dates[0] ?? isoDay(new Date());
  const d = new Date(`${last}T00:00:00`);
  d.setDate(d.getDate() - (days - 1));
  return { first: isoDay(d), last };
}

export function AnalyticsLandingPage() {
  const navigate = useNavigate();
  const envs = useQuery({ queryKey: ['environments'], queryFn: analyticsApi.environments });
  const [site, setSite] = useState<string | null>(null);
  const env = useMemo(() => envs.data?.data.find((e) => e.environment_id === site), [envs.data, site]);
  const [first, setFirst] = useState('');
  const [last, setLast] = useState('');
  useEffect(() => {
    if (!site && envs.data?.data.length) setSite(envs.data.data[0].environment_id);
  }, [envs.data, site]);
  useEffect(() => {
    const d = defaultDays(env);
    setFirst(d.first);
    setLast(d.last);
  }, [env]);
  const invalid = !!first && !!last && last < first;

  return (
    <Stack>
      <Title order={1}>Analytics</Title>
      <ErrorBanner error={envs.error} onRetry={() => void envs.refetch()} />
      <Card withBorder maw={720}>
        <Stack>
          <Select label="Store" data-testid="store-select" placeholder={envs.isLoading ? 'Loading…' : 'Pick a store'}
            data={(envs.data?.data ?? []).map((e) => ({ value: e.environment_id, label: `${e.name} (${e.environment_id})` }))}
            value={site} onChange={setSite} allowDeselect={false} />
          <Group grow>
            <TextInput type="date" label="From (day)" value={first} onChange={(e) => setFirst(e.currentTarget.value)} />
            <TextInput type="date" label="To (day, included)" value={last} onChange={(e) => setLast(e.currentTarget.value)}
              error={invalid ? 'The last day is before the first' : undefined} />
          </Group>
          <Group justify="space-between">
            <Text size="sm" c="dimmed">
              {env ? (env.data_range ? `Data from ${new Date(env.data_range.from).toLocaleDateString()} to ${new Date(env.data_range.to).toLocaleDateString()}` : 'No analysed data yet') : ''}
            </Text>
            <Button disabled={!site || !first || !last || invalid} data-testid="open-analytics"
              onClick={() => navigate(`/analytics/${encodeURIComponent(site ?? '')}?from=${first}&to=${last}`)}>
              Open analytics
            </Button>
          </Group>
        </Stack>
      </Card>
      <SimpleGrid cols={{ base: 1, md: 3 }}>
        {(envs.data?.data ?? []).map((e) => (
          <Card key={e.environment_id} withBorder data-environment={e.environment_id}>
            <Group justify="space-between"><Text fw={600}>{e.name}</Text><Badge variant="light">{e.timezone}</Badge></Group>
            <Text size="sm" c="dimmed">{e.cameras.length} {e.cameras.length === 1 ? 'camera' : 'cameras'} · {e.available_dates.length} days with data</Text>
            <Text size="xs" c="dimmed">{e.cameras.map((c) => `${c.name}: ${c.zones.map((z) => z.name).join(', ') || 'no zones'}`).join(' · ')}</Text>
          </Card>
        ))}
      </SimpleGrid>
      {envs.data?.count === 0 && <Text c="dimmed">No store with analysed data is visible to you yet.</Text>}
    </Stack>
  );
}
