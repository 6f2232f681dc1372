// A store's analytics over a date range: headline figures, occupancy and dwell charts, counts,
// heatmaps (on the floor plan where calibrated, per camera image), paths and a report button.

import { useMemo, useState } from 'react';
import { Anchor, Card, Group, Image, Select, SimpleGrid, Skeleton, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link, useParams, useSearchParams } from 'react-router-dom';
import { analyticsApi, dayRange, isoDay, type HeatmapGrid as Grid, type TimeRangeQuery } from '../api/analytics';
import { OccupancyChart, DwellHistogram, HourOfDayChart } from '../components/analytics/charts';
import { HeatmapGrid } from '../components/analytics/HeatmapGrid';
import { PathsTable } from '../components/analytics/PathsTable';
import { ReportButton } from '../components/analytics/ReportButton';
import { ErrorBanner } from '../components/ErrorBanner';
import { fmtSeconds } from '../components/format';
import { useBlobUrl } from '../components/Media';

/** A bucket length in words: "1 h", "5 min", "30 s". */
export function bucketText(s: number): string {
  if (s % 86400 === 0) return `${s / 86400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

function Stat({ label, value, testId }: { label: string; value: string | number | undefined; testId: string }) {
  return (
    <Card withBorder padding="md" role="group" aria-label={label}>
      <Text size="sm" c="dimmed">{label}</Text>
      {value === undefined ? <Skeleton h={30} mt={4} /> : <Text fz={26} fw={700} data-testid={testId}>{value}</Text>}
    </Card>
  );
}

function CameraHeatmap({ site, grid, range }: { site: string; grid: Grid; range: TimeRangeQuery }) {
  const plan = grid.space === 'plan';
  const which = plan ? 'space=plan' : `camera_id=${encodeURIComponent(grid.camera_id ?? '')}`;
  const path = `/analytics/heatmap/${encodeURIComponent(site)}?${which}&format=png&from=${encodeURIComponent(range.from)}&to=${encodeURIComponent(range.to)}`;
  const { url } = useBlobUrl(path);
  const title = plan ? `Floor plan (${grid.cameras.join(', ')})` : grid.camera_id ?? '';
  const cell = plan ? `${grid.cell_w}×${grid.cell_h}` : `${grid.cell_w.toFixed(0)}×${grid.cell_h.toFixed(0)}`;
  return (
    <Card withBorder data-testid={plan ? 'plan-heatmap' : 'camera-heatmap'} data-camera-id={grid.camera_id ?? undefined}>
      <Text fw={600} mb={4}>{title}</Text>
      {url ? <Image src={url} alt={plan ? 'Heatmap on the floor plan' : `Heatmap of ${grid.camera_id} over its camera image`} radius="sm" /> : <HeatmapGrid grid={grid} />}
      <Text size="xs" c="dimmed" mt={4}>{grid.total_person_s.toFixed(0)} person-seconds over {grid.hours} camera-hours; cells {cell} {grid.unit}</Text>
    </Card>
  );
}

export function AnalyticsPage() {
  const { siteId = '' } = useParams();
  const [params] = useSearchParams();
  const today = isoDay(new Date());
  const first = params.get('from') ?? today;
  const last = params.get('to') ?? first;
  const range = useMemo(() => dayRange(first, last), [first, last]);
  const [zone, setZone] = useState<string>('');
  const key = [siteId, range.from, range.to];
  const summary = useQuery({ queryKey: ['analytics', 'summary', ...key], queryFn: () => analyticsApi.summary(siteId, range) });
  const dwell = useQuery({ queryKey: ['analytics', 'dwell', ...key], queryFn: () => analyticsApi.dwell(siteId, range) });
  const counts = useQuery({ queryKey: ['analytics', 'counts', ...key], queryFn: () => analyticsApi.counts(siteId, range) });
  const paths = useQuery({ queryKey: ['analytics', 'paths', ...key], queryFn: () => analyticsApi.paths(siteId, range) });
  const heat = useQuery({ queryKey: ['analytics', 'heatmap', ...key], queryFn: () => analyticsApi.heatmap(siteId, range) });
  const occupancy = useQuery({ queryKey: ['analytics', 'occupancy', zone, ...key], queryFn: () => analyticsApi.occupancy(siteId, zone, range) });
  const zones = paths.data?.zones ?? [];
  const s = summary.data;

  return (
    <Stack>
      <Group justify="space-between" align="flex-start">
        <Stack gap={0}>
          <Title order={1}>Analytics: {s?.title ?? siteId}</Title>
          <Text size="sm" c="dimmed">{first === last ? first : `${first} to ${last}`} ({s?.timezone ?? '…'}) · <Anchor component={Link} to="/analytics" size="sm">change store or range</Anchor></Text>
        </Stack>
        <ReportButton actions={{
          start: (format) => analyticsApi.report(siteId, range, format),
          status: analyticsApi.exportStatus,
          download: analyticsApi.download,
        }} />
      </Group>
      <ErrorBanner error={summary.error ?? occupancy.error ?? dwell.error ?? counts.error ?? paths.error ?? heat.error}
        onRetry={() => { void summary.refetch(); void occupancy.refetch(); }} />
      <SimpleGrid cols={{ base: 2, md: 5 }}>
        <Stat label="People" value={s?.unique_people} testId="stat-people" />
        <Stat label="Visits" value={s?.visits} testId="stat-visits" />
        <Stat label="Zone visits" value={s?.zone_visits} testId="stat-zone-visits" />
        <Stat label="Busiest hour" value={s ? (s.busiest_hour == null ? '—' : `${String(s.busiest_hour).padStart(2, '0')}:00`) : undefined} testId="stat-busiest-hour" />
        <Stat label="Busiest zone" value={s ? (s.busiest_zone ?? '—') : undefined} testId="stat-busiest-zone" />
      </SimpleGrid>
      <Card withBorder>
        <Group justify="space-between" mb="xs">
          <Title order={2} size="h4">Occupancy</Title>
          <Select aria-label="Zone" w={220} value={zone} onChange={(v) => setZone(v ?? '')} allowDeselect={false}
            data={[{ value: '', label: 'Whole camera view' }, ...zones.map((z) => ({ value: z, label: z }))]} />
        </Group>
        {occupancy.data ? (
          <>
            <OccupancyChart series={occupancy.data.series} bucketS={occupancy.data.bucket_s} label={`Occupancy of ${zone || 'the camera view'}`} />
            <Text size="sm" c="dimmed" data-testid="occupancy-peak">
              Peak {occupancy.data.peak} {occupancy.data.peak_at ? `at ${new Date(occupancy.data.peak_at).toLocaleString()}` : ''} · mean {occupancy.data.mean.toFixed(2)} people · buckets of {bucketText(occupancy.data.bucket_s)}
            </Text>
          </>
        ) : <Skeleton h={260} />}
      </Card>
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <Card withBorder>
          <Title order={2} size="h4" mb="xs">Dwell per zone</Title>
          {(dwell.data?.data ?? []).length === 0 && <Text c="dimmed" size="sm">{dwell.isLoading ? 'Loading…' : 'No zone visits in this range.'}</Text>}
          {(dwell.data?.data ?? []).map((d) => (
            <Stack key={d.zone} gap={2} mb="sm" data-dwell-zone={d.zone}>
              <Text size="sm" fw={600}>{d.zone}: {d.visits} visits, {d.bounces} bounces (&lt; {d.bounce_s} s) · median {fmtSeconds(d.median_s)} · p90 {fmtSeconds(d.p90_s)}</Text>
              <DwellHistogram bins={d.histogram} label={`Dwell in ${d.zone}`} />
            </Stack>
          ))}
        </Card>
        <Card withBorder>
          <Title order={2} size="h4" mb="xs">Counts</Title>
          {counts.data && <HourOfDayChart hours={counts.data.hour_of_day} timezone={counts.data.timezone} />}
          <Table aria-label="Entries and exits per zone and line" data-testid="counts-table" mt="xs">
            <Table.Thead><Table.Tr><Table.Th>Camera</Table.Th><Table.Th>Zone / line</Table.Th><Table.Th>In</Table.Th><Table.Th>Out</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {counts.data?.zones.map((z) => (
                <Table.Tr key={`${z.camera_id}/${z.zone}`}><Table.Td>{z.camera_id}</Table.Td><Table.Td>{z.zone || 'whole view'}</Table.Td><Table.Td>{z.entries}</Table.Td><Table.Td>{z.exits}</Table.Td></Table.Tr>
              ))}
              {counts.data?.lines.map((l) => (
                <Table.Tr key={`${l.camera_id}/${l.line}`}><Table.Td>{l.camera_id}</Table.Td><Table.Td>line {l.line}</Table.Td><Table.Td>{l.in}</Table.Td><Table.Td>{l.out}</Table.Td></Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          {counts.data && <Text size="xs" c="dimmed" mt={4}>{counts.data.unique_people} people counted by {counts.data.people_identity === 'track' ? 'track (no cross-camera identities in this range)' : 'global id (one person across cameras)'}</Text>}
        </Card>
      </SimpleGrid>
      <Card withBorder>
        <Title order={2} size="h4" mb="xs">Heatmaps</Title>
        {heat.data && !heat.data.floor_plan && <Text size="xs" c="dimmed" mb="xs">No floor plan is calibrated: one heatmap per camera image.</Text>}
        {heat.data?.data.length === 0 && <Text c="dimmed" size="sm">No positions in this range (live cameras keep no positions).</Text>}
        <SimpleGrid cols={{ base: 1, md: 2 }}>
          {heat.data?.data.map((g) => <CameraHeatmap key={g.camera_id ?? 'plan'} site={siteId} grid={g} range={range} />)}
        </SimpleGrid>
      </Card>
      <Card withBorder>
        <Title order={2} size="h4" mb="xs">Paths</Title>
        {paths.data ? <PathsTable transitions={paths.data.transitions} /> : <Skeleton h={80} />}
      </Card>
    </Stack>
  );
}
