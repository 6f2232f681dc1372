import { useMemo, useRef, useState } from 'react';
import { Badge, Grid, Group, Loader, Select, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import type { SitesPage } from '../api/endpoints';
import { identityApi } from '../api/identity';
import type { TrackingUpdate } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { FloorMap, type MapPerson } from '../components/FloorMap';
import { PersonPanel } from '../components/PersonPanel';
import { useInterest, useStream } from '../realtime/RealtimeProvider';

const TRAIL_POINTS = 60; // per person
const GONE_MS = 10_000; // a person not updated this long leaves the map

interface Live { trail: [number, number][]; cameraId: string; at: number }

/** Fold one `tracking_update` into the people on the map (tracks with a global id and plan coordinates). */
export function foldUpdate(people: Map<string, Live>, m: TrackingUpdate, now: number): Map<string, Live> {
  for (const t of m.tracks) {
    if (t.global_id == null || !t.map_coords) continue;
    const id = String(t.global_id);
    const p = people.get(id) ?? { trail: [], cameraId: m.camera_id, at: now };
    const last = p.trail[p.trail.length - 1];
    if (!last || last[0] !== t.map_coords[0] || last[1] !== t.map_coords[1]) p.trail = [...p.trail, t.map_coords].slice(-TRAIL_POINTS);
    p.cameraId = m.camera_id;
    p.at = now;
    people.set(id, p);
  }
  for (const [id, p] of people) if (now - p.at > GONE_MS) people.delete(id);
  return people;
}

export function MapPage() {
  const sites = useQuery({ queryKey: ['sites'], queryFn: () => api.get<SitesPage>('/sites', { limit: 1000 }) });
  const [site, setSite] = useState<string | null>(null);
  const chosen = site ?? sites.data?.data[0]?.name ?? null;
  const plan = useQuery({ queryKey: ['floorplan', chosen], queryFn: () => identityApi.floorPlan(chosen ?? undefined), enabled: !!chosen });
  const [selected, setSelected] = useState<string | null>(null);
  const people = useRef(new Map<string, Live>());
  const [, setTick] = useState(0);
  const cameraIds = useMemo(() => plan.data?.cameras.map((c) => c.camera_id) ?? [], [plan.data]);
  useInterest(cameraIds.length ? cameraIds : null);
  useStream((m) => {
    if (m.kind !== 'tracking_update' || !cameraIds.includes(m.camera_id)) return;
    foldUpdate(people.current, m, Date.now());
    setTick((t) => t + 1);
  });
  const shown: MapPerson[] = [...people.current.entries()].map(([globalId, p]) => ({ globalId, trail: p.trail, cameraId: p.cameraId }));
  const p = plan.data;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Map</Title>
        <Group>
          <Badge variant="light" data-testid="map-count">{shown.length} on the map</Badge>
          <Select aria-label="Site" placeholder="Site" value={chosen} onChange={setSite} allowDeselect={false}
            data={(sites.data?.data ?? []).map((s) => ({ value: s.name, label: s.friendly_name ?? s.name }))} />
        </Group>
      </Group>
      <ErrorBanner error={sites.error ?? plan.error} onRetry={() => void plan.refetch()} />
      {plan.isLoading && <Loader aria-label="Loading the floor plan" />}
      {p && (
        <Grid>
          <Grid.Col span={{ base: 12, lg: selected ? 7 : 12 }}>
            <FloorMap extent={p.extent_m} cameras={p.cameras} people={shown} selected={selected} onSelect={setSelected}
              imageUrl={p.floor_plan?.image && /^https?:|^\//.test(p.floor_plan.image) ? p.floor_plan.image : null}
              metresPerPixel={p.floor_plan?.metres_per_pixel ?? null} />
            <Text size="xs" c="dimmed">
              Grid in metres · {p.cameras.filter((c) => c.calibrated).length} of {p.cameras.length} cameras calibrated
              {p.cameras.some((c) => !c.calibrated) ? ' (calibrate a camera on its page to place its people here)' : ''}
            </Text>
          </Grid.Col>
          {selected && (
            <Grid.Col span={{ base: 12, lg: 5 }}>
              <PersonPanel globalId={selected} onClose={() => setSelected(null)} />
            </Grid.Col>
          )}
        </Grid>
      )}
    </Stack>
  );
}
