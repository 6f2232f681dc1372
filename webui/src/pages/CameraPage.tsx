import { useEffect, useState, type FormEvent } from 'react';
import { ActionIcon, Alert, Anchor, Button, Card, Grid, Group, Loader, NumberInput, SegmentedControl, Select, Stack, Switch, Table,
  TagsInput, Text, TextInput, Textarea, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconTrash } from '@tabler/icons-react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router-dom';
import { useAuth } from '../api/auth';
import { api, describeError } from '../api/client';
import { ZONE_KINDS, type CameraPublic, type CameraStatus, type LineConfig, type PointNorm, type RuleConfig, type ZoneConfig, type ZoneKind } from '../api/types';
import { StatusBadge } from '../components/Badges';
import { ErrorBanner } from '../components/ErrorBanner';
import { useBlobUrl } from '../components/Media';
import { ZoneEditor, type DrawMode } from '../components/ZoneEditor';
import { CalibrationEditor } from '../components/CalibrationEditor';
import { identityApi } from '../api/identity';

const RULE_TEMPLATES: Record<string, RuleConfig> = {
  zone_enter: { type: 'zone_enter', zone: '', min_confidence: 0.3, cooldown_s: 5 },
  zone_exit: { type: 'zone_exit', zone: '' },
  dwell: { type: 'dwell', zone: '', dwell_s: 30 },
  line_cross: { type: 'line_cross', line: '', direction: 'any' },
  zone_sequence: { type: 'zone_sequence', sequence: ['', ''], absent: [], within_s: 300 },
  occupancy: { type: 'occupancy', zone: '', max_count: 5, for_s: 10 },
};

function useImageAspect(url: string | null): number {
  const [aspect, setAspect] = useState(16 / 9);
  useEffect(() => {
    if (!url) return;
    const img = new Image();
    img.onload = () => img.naturalHeight && setAspect(img.naturalWidth / img.naturalHeight);
    img.src = url;
  }, [url]);
  return aspect;
}

function CameraSettings({ camera, onSaved, canEdit }: { camera: CameraPublic; onSaved: (c: CameraPublic) => void; canEdit: boolean }) {
  const [friendly, setFriendly] = useState(camera.friendly_name ?? '');
  const [source, setSource] = useState(camera.source ?? '');
  const [group, setGroup] = useState(camera.camera_group ?? '');
  const [enabled, setEnabled] = useState(camera.enabled);
  const [fps, setFps] = useState<number | string>(camera.config.fps ?? '');
  const [error, setError] = useState<string | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      const config = { ...camera.config, fps: fps === '' ? null : Number(fps) };
      onSaved(await api.patch<CameraPublic>(`/cameras/${encodeURIComponent(camera.id)}`, {
        friendly_name: friendly.trim() || null, source: source.trim() || null, camera_group: group.trim() || null, enabled, config,
      }));
      setError(null);
      notifications.show({ color: 'green', message: 'Camera saved and applied' });
    } catch (err) {
      setError(describeError(err));
    }
  }
  return (
    <form onSubmit={submit} aria-label="Camera settings">
      <Stack>
        <TextInput label="Display name" value={friendly} onChange={(e) => setFriendly(e.currentTarget.value)} disabled={!canEdit} />
        <TextInput label="Source" description="rtsp://…, http(s)://… or a video file path" value={source} onChange={(e) => setSource(e.currentTarget.value)} disabled={!canEdit} />
        <Group grow>
          <TextInput label="Camera group" value={group} onChange={(e) => setGroup(e.currentTarget.value)} disabled={!canEdit} />
          <NumberInput hideControls label="Detection fps" placeholder="default" min={0.1} max={120} step={0.5} value={fps} onChange={setFps} disabled={!canEdit} />
        </Group>
        <Switch label="Enabled" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} disabled={!canEdit} />
        {error && <Alert color="red" role="alert" variant="light">{error}</Alert>}
        {canEdit && <Group><Button type="submit">Save camera</Button></Group>}
      </Stack>
    </form>
  );
}

function RulesEditor({ camera, onSaved, canEdit }: { camera: CameraPublic; onSaved: () => void; canEdit: boolean }) {
  const rules = camera.config.rules ?? {};
  const [name, setName] = useState('');
  const [body, setBody] = useState(JSON.stringify(RULE_TEMPLATES.zone_enter, null, 2));
  const [error, setError] = useState<string | null>(null);
  const path = (rule: string) => `/cameras/${encodeURIComponent(camera.id)}/rules/${encodeURIComponent(rule)}`;
  async function save(e: FormEvent) {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (err) {
      setError(`The rule is not valid JSON: ${(err as Error).message}`);
      return;
    }
    try {
      await api.put(path(name.trim()), parsed);
      setError(null);
      notifications.show({ color: 'green', message: `Rule ${name.trim()} saved and applied` });
      onSaved();
    } catch (err) {
      setError(describeError(err));
    }
  }
  async function remove(rule: string) {
    try {
      await api.delete(path(rule));
      onSaved();
    } catch (err) {
      setError(describeError(err));
    }
  }
  return (
    <Stack>
      <Table aria-label="Rules">
        <Table.Thead><Table.Tr><Table.Th>Rule</Table.Th><Table.Th>Type</Table.Th><Table.Th>Settings</Table.Th><Table.Th /></Table.Tr></Table.Thead>
        <Table.Tbody>
          {Object.entries(rules).map(([rule, cfg]) => (
            <Table.Tr key={rule}>
              <Table.Td>
                <Anchor component="button" type="button" onClick={() => { setName(rule); setBody(JSON.stringify(cfg, null, 2)); }} aria-label={`Edit rule ${rule}`}>{rule}</Anchor>
              </Table.Td>
              <Table.Td>{cfg.type}</Table.Td>
              <Table.Td><Text size="xs" ff="monospace" lineClamp={2}>{JSON.stringify(Object.fromEntries(Object.entries(cfg).filter(([k]) => k !== 'type')))}</Text></Table.Td>
              <Table.Td>{canEdit && <ActionIcon variant="subtle" color="red" onClick={() => void remove(rule)} aria-label={`Delete rule ${rule}`}><IconTrash size={16} /></ActionIcon>}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {Object.keys(rules).length === 0 && <Text size="sm" c="dimmed">No rule yet.</Text>}
      {canEdit && (
        <form onSubmit={save} aria-label="Edit a rule">
          <Stack>
            <Group align="flex-end">
              <TextInput label="Rule name" required value={name} onChange={(e) => setName(e.currentTarget.value)} />
              <Select label="Start from a template" placeholder="rule type" data={Object.keys(RULE_TEMPLATES)}
                onChange={(t) => t && setBody(JSON.stringify(RULE_TEMPLATES[t], null, 2))} />
            </Group>
            <Textarea label="Rule (JSON)" value={body} onChange={(e) => setBody(e.currentTarget.value)} autosize minRows={6}
              styles={{ input: { fontFamily: 'monospace' } }} />
            {error && <Alert color="red" role="alert" variant="light" title="Rule refused">{error}</Alert>}
            <Group><Button type="submit" disabled={!name.trim()}>Save rule</Button></Group>
          </Stack>
        </form>
      )}
    </Stack>
  );
}

export function CameraPage() {
  const { cameraId = '' } = useParams();
  const { can } = useAuth();
  const queryClient = useQueryClient();
  const id = encodeURIComponent(cameraId);
  const camera = useQuery({ queryKey: ['cameras', 'detail', cameraId], queryFn: () => api.get<CameraPublic>(`/cameras/${id}`) });
  const status = useQuery({ queryKey: ['camera-status', cameraId], queryFn: () => api.get<CameraStatus>(`/cameras/${id}/status`), refetchInterval: 5000 });
  const running = !!status.data?.running || status.data?.state === 'streaming';
  const snapshot = useBlobUrl(running ? `/cameras/${id}/frame.jpg?overlay=false` : null);
  const aspect = useImageAspect(snapshot.url);
  const [mode, setMode] = useState<DrawMode>('zone');
  const [points, setPoints] = useState<PointNorm[]>([]);
  const [shapeName, setShapeName] = useState('');
  const [kind, setKind] = useState<ZoneKind>('generic');
  const [skus, setSkus] = useState<string[]>([]);
  const [shapeError, setShapeError] = useState<string | null>(null);
  const [controlError, setControlError] = useState<string | null>(null);
  const manage = can('camera.manage');

  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ['cameras'] });
    void queryClient.invalidateQueries({ queryKey: ['camera-status'] });
  };

  if (camera.isLoading) return <Loader aria-label="Loading camera" />;
  if (camera.error || !camera.data) return <Stack><Title order={1}>Camera</Title><ErrorBanner error={camera.error} onRetry={() => void camera.refetch()} /></Stack>;
  const c = camera.data;
  const zones = c.config.zones ?? {};
  const lines = c.config.lines ?? {};

  async function saveShape(e: FormEvent) {
    e.preventDefault();
    const name = shapeName.trim();
    if (!name) { setShapeError('Give the shape a name.'); return; }
    if (mode === 'zone' && points.length < 3) { setShapeError('A zone needs at least three points.'); return; }
    if (mode === 'line' && points.length !== 2) { setShapeError('A line needs exactly two points.'); return; }
    const body: ZoneConfig | LineConfig = mode === 'zone'
      ? { kind, polygon: points, ...(kind === 'shelf' ? { skus } : {}) }
      : { start: points[0], end: points[1] };
    try {
      await api.put(`/cameras/${id}/${mode === 'zone' ? 'zones' : 'lines'}/${encodeURIComponent(name)}`, body);
      setShapeError(null);
      setPoints([]);
      setShapeName('');
      notifications.show({ color: 'green', title: `${mode === 'zone' ? 'Zone' : 'Line'} saved`, message: `${name} is applied to the camera` });
      refresh();
    } catch (err) {
      setShapeError(describeError(err));
    }
  }

  async function removeShape(what: 'zones' | 'lines', name: string) {
    try {
      await api.delete(`/cameras/${id}/${what}/${encodeURIComponent(name)}`);
      refresh();
    } catch (err) {
      setShapeError(describeError(err));
    }
  }

  async function control(action: 'start' | 'stop') {
    setControlError(null);
    try {
      await api.post(`/cameras/${id}/${action}`);
      refresh();
    } catch (err) {
      setControlError(describeError(err));
    }
  }

  return (
    <Stack>
      <Group justify="space-between">
        <Group>
          <Title order={1}>{c.friendly_name ?? c.key}</Title>
          <StatusBadge status={status.data?.state ?? 'stopped'} />
          <Text size="sm" c="dimmed">{c.id} · version {c.version}</Text>
        </Group>
        <Group>
          {can('camera.control') && (running
            ? <Button variant="default" onClick={() => void control('stop')}>Stop camera</Button>
            : <Button onClick={() => void control('start')} disabled={!c.enabled || !c.source}>Start camera</Button>)}
          <Anchor component={Link} to="/sites">All cameras</Anchor>
        </Group>
      </Group>
      {controlError && <Alert color="red" role="alert" variant="light">{controlError}</Alert>}
      <Grid>
        <Grid.Col span={{ base: 12, lg: 8 }}>
          <Card withBorder>
            <Group justify="space-between" mb="xs">
              <Title order={2} size="h4">Zones and lines</Title>
              {manage && (
                <SegmentedControl aria-label="What to draw" value={mode} onChange={(v) => { setMode(v as DrawMode); setPoints([]); }}
                  data={[{ label: 'Draw a zone', value: 'zone' }, { label: 'Draw a line', value: 'line' }]} />
              )}
            </Group>
            {!running && <Text size="sm" c="dimmed" mb="xs">The camera is not running: no snapshot, but zones can still be drawn on the blank frame.</Text>}
            <ZoneEditor imageUrl={snapshot.url} aspect={aspect} zones={zones} lines={lines} mode={mode} points={points}
              onPointsChange={manage ? setPoints : () => undefined} />
            {manage && (
              <form onSubmit={saveShape} aria-label={`Save the ${mode}`}>
                <Group align="flex-end" mt="sm">
                  <TextInput label={mode === 'zone' ? 'Zone name' : 'Line name'} value={shapeName} onChange={(e) => setShapeName(e.currentTarget.value)} required />
                  {mode === 'zone' && <Select label="Kind" value={kind} onChange={(v) => setKind((v ?? 'generic') as ZoneKind)} data={ZONE_KINDS} allowDeselect={false} w={150} />}
                  {mode === 'zone' && kind === 'shelf' && <TagsInput label="SKUs" value={skus} onChange={setSkus} placeholder="Enter a SKU" w={240} />}
                  <Button type="submit">Save {mode}</Button>
                </Group>
                {shapeError && <Alert mt="sm" color="red" role="alert" variant="light" title="Not saved">{shapeError}</Alert>}
              </form>
            )}
            <Table mt="md" aria-label="Zones and lines" data-testid="zones-table">
              <Table.Thead><Table.Tr><Table.Th>Name</Table.Th><Table.Th>What</Table.Th><Table.Th>Points</Table.Th><Table.Th /></Table.Tr></Table.Thead>
              <Table.Tbody>
                {Object.entries(zones).map(([name, z]) => (
                  <Table.Tr key={`z-${name}`} data-zone-row={name}>
                    <Table.Td>{name}</Table.Td><Table.Td>{z.kind} zone</Table.Td><Table.Td>{z.polygon.length}</Table.Td>
                    <Table.Td>{manage && <ActionIcon variant="subtle" color="red" onClick={() => void removeShape('zones', name)} aria-label={`Delete zone ${name}`}><IconTrash size={16} /></ActionIcon>}</Table.Td>
                  </Table.Tr>
                ))}
                {Object.entries(lines).map(([name]) => (
                  <Table.Tr key={`l-${name}`}>
                    <Table.Td>{name}</Table.Td><Table.Td>line</Table.Td><Table.Td>2</Table.Td>
                    <Table.Td>{manage && <ActionIcon variant="subtle" color="red" onClick={() => void removeShape('lines', name)} aria-label={`Delete line ${name}`}><IconTrash size={16} /></ActionIcon>}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Card>
        </Grid.Col>
        <Grid.Col span={{ base: 12, lg: 4 }}>
          <Card withBorder>
            <Title order={2} size="h4" mb="xs">Camera</Title>
            <CameraSettings key={c.version} camera={c} onSaved={refresh} canEdit={manage} />
          </Card>
        </Grid.Col>
      </Grid>
      <Card withBorder>
        <Title order={2} size="h4" mb="xs">Rules</Title>
        <RulesEditor camera={c} onSaved={refresh} canEdit={manage} />
      </Card>
      <CalibrationCard camera={c} imageUrl={snapshot.url} aspect={aspect} canEdit={manage} onSaved={refresh} />
    </Stack>
  );
}

function CalibrationCard({ camera, imageUrl, aspect, canEdit, onSaved }: {
  camera: CameraPublic; imageUrl: string | null; aspect: number; canEdit: boolean; onSaved: (c: CameraPublic) => void;
}) {
  const site = useQuery({ queryKey: ['floorplan-for', camera.site_id], queryFn: () => identityApi.floorPlan(camera.id.split('.')[0]) });
  const cal = camera.config.calibration ?? null;
  return (
    <Card withBorder>
      <Title order={2} size="h4" mb="xs">Floor-plan calibration</Title>
      <Text size="sm" c="dimmed" mb="xs">
        Pairs of the same floor point on the snapshot and on the plan (metres) place this camera&apos;s people on the map
        and let the identity registry tell one person seen by two cameras from two people.
      </Text>
      <CalibrationEditor key={camera.version} imageUrl={imageUrl} aspect={aspect} canEdit={canEdit}
        initial={cal ? { image_points: cal.image_points, map_points: cal.map_points } : null}
        extent={site.data?.extent_m ?? [0, 0, 20, 20]}
        onSave={async (value) => {
          const saved = await api.patch<CameraPublic>(`/cameras/${encodeURIComponent(camera.id)}`, {
            config: { ...camera.config, calibration: value } });
          notifications.show({ color: 'green', message: value ? 'Calibration saved and applied' : 'Calibration removed' });
          onSaved(saved);
        }} />
    </Card>
  );
}
