import { useState } from 'react';
import { Alert, Card, Group, Loader, Progress, SegmentedControl, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import type { ReviewGroupBy, ReviewRates } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { fmtPercent } from '../components/format';

const LABELS: Record<ReviewGroupBy, string> = { camera: 'Camera', zone: 'Zone', hour: 'Hour (UTC)' };

/** Alert and dismissal rates by camera, zone and hour: where alerts are mostly dismissed, a rule over-fires. */
export function ReportsPage() {
  const [by, setBy] = useState<ReviewGroupBy>('camera');
  const rates = useQuery({
    queryKey: ['reports', 'alert-review', by],
    queryFn: () => api.get<ReviewRates>(`/reports/alert-review?by=${by}`),
  });
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Review rates</Title>
        <SegmentedControl aria-label="Group by" value={by} onChange={(v) => setBy(v as ReviewGroupBy)}
          data={(Object.keys(LABELS) as ReviewGroupBy[]).map((k) => ({ value: k, label: LABELS[k] }))} />
      </Group>
      <Text c="dimmed" size="sm">
        How often alerts are raised and how review closed them, per {LABELS[by].toLowerCase()}. A high dismissal
        rate shows where a rule fires on ordinary behaviour. {rates.data?.note}
      </Text>
      <ErrorBanner error={rates.error} />
      {rates.isLoading && <Loader aria-label="Loading review rates" />}
      {rates.data && rates.data.total === 0 && <Alert color="gray">No alerts yet.</Alert>}
      {rates.data && rates.data.total > 0 && (
        <Card withBorder>
          <Table striped aria-label={`Alert and dismissal rates by ${by}`}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{LABELS[by]}</Table.Th><Table.Th>Alerts</Table.Th><Table.Th>Share</Table.Th>
                <Table.Th>Pending</Table.Th><Table.Th>Dismissed</Table.Th><Table.Th>Escalated</Table.Th>
                <Table.Th>Dismissal rate</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rates.data.groups.map((g) => (
                <Table.Tr key={g.key}>
                  <Table.Td>{g.key}</Table.Td>
                  <Table.Td>{g.alerts}</Table.Td>
                  <Table.Td>{fmtPercent(g.share)}</Table.Td>
                  <Table.Td>{g.pending + g.acknowledged}</Table.Td>
                  <Table.Td>{g.dismissed}</Table.Td>
                  <Table.Td>{g.escalated}</Table.Td>
                  <Table.Td miw={160}>
                    <Group gap="xs" wrap="nowrap">
                      <Progress value={(g.dismissal_rate ?? 0) * 100} w={80} color={(g.dismissal_rate ?? 0) > 0.8 ? 'orange' : 'blue'}
                        aria-label={`Dismissal rate of ${g.key}`} />
                      <Text size="sm">{fmtPercent(g.dismissal_rate)}</Text>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Card>
      )}
    </Stack>
  );
}
