import { useState, type FormEvent } from 'react';
import { Alert, Anchor, Button, Card, Group, Loader, Select, Stack, Switch, Table, Tabs, Text, TextInput, Textarea, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { useAuth } from '../api/auth';
import { api, describeError } from '../api/client';
import type { CamerasPage, SitesPage as SitesData } from '../api/endpoints';
import type { CameraPublic, SitePublic } from '../api/types';
import { StatusBadge } from '../components/Badges';
import { ErrorBanner } from '../components/ErrorBanner';

function NewSite({ onDone }: { onDone: (site: SitePublic) => void }) {
  const [name, setName] = useState('');
  const [friendly, setFriendly] = useState('');
  const [tz, setTz] = useState('UTC');
  const [error, setError] = useState<string | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      onDone(await api.post<SitePublic>('/sites', { name: name.trim(), friendly_name: friendly.trim() || null, timezone: tz.trim() || 'UTC' }));
      setName(''); setFriendly(''); setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  }
  return (
    <form onSubmit={submit} aria-label="New site">
      <Stack>
        <Group align="flex-end">
          <TextInput label="Name (slug)" required value={name} onChange={(e) => setName(e.currentTarget.value)} placeholder="store-12" />
          <TextInput label="Display name" value={friendly} onChange={(e) => setFriendly(e.currentTarget.value)} />
          <TextInput label="Time zone" value={tz} onChange={(e) => setTz(e.currentTarget.value)} />
          <Button type="submit" disabled={!name.trim()}>Create site</Button>
        </Group>
        {error && <Alert color="red" role="alert" variant="light">{error}</Alert>}
      </Stack>
    </form>
  );
}

function ImportSite({ onDone }: { onDone: () => void }) {
  const [yaml, setYaml] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    try {
      const out = await api.post<{ site: SitePublic; cameras: CameraPublic[] }>('/sites/import', { yaml });
      notifications.show({ color: 'green', title: 'Site imported', message: `${out.site.name}: ${out.cameras.length} cameras` });
      setYaml(''); setError(null); onDone();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form onSubmit={submit} aria-label="Import a site file">
      <Stack>
        <Textarea label="Site file (YAML)" description="Creates or updates the site and every camera it names" value={yaml}
          onChange={(e) => setYaml(e.currentTarget.value)} autosize minRows={6} maxRows={20} styles={{ input: { fontFamily: 'monospace' } }} />
        {error && <Alert color="red" role="alert" variant="light" title="Import refused">{error}</Alert>}
        <Group><Button type="submit" disabled={!yaml.trim()} loading={busy}>Import</Button></Group>
      </Stack>
    </form>
  );
}

function NewCamera({ siteId, onDone }: { siteId: string; onDone: (c: CameraPublic) => void }) {
  const [key, setKey] = useState('');
  const [friendly, setFriendly] = useState('');
  const [source, setSource] = useState('');
  const [group, setGroup] = useState('');
  const [enabled, setEnabled] = useState(true);
  const [error, setError] = useState<string | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      onDone(await api.post<CameraPublic>('/cameras', {
        site_id: siteId, key: key.trim(), friendly_name: friendly.trim() || null, source: source.trim() || null,
        camera_group: group.trim() || null, enabled,
      }));
      setKey(''); setFriendly(''); setSource(''); setGroup(''); setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  }
  return (
    <form onSubmit={submit} aria-label="New camera">
      <Stack>
        <Group align="flex-end">
          <TextInput label="Key (slug)" required value={key} onChange={(e) => setKey(e.currentTarget.value)} placeholder="entrance" />
          <TextInput label="Display name" value={friendly} onChange={(e) => setFriendly(e.currentTarget.value)} />
          <TextInput label="Source" placeholder="rtsp://… or a file path" value={source} onChange={(e) => setSource(e.currentTarget.value)} w={280} />
          <TextInput label="Camera group" value={group} onChange={(e) => setGroup(e.currentTarget.value)} />
          <Switch label="Enabled" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} />
          <Button type="submit" disabled={!key.trim()}>Add camera</Button>
        </Group>
        {error && <Alert color="red" role="alert" variant="light">{error}</Alert>}
      </Stack>
    </form>
  );
}

export function SitesPage() {
  const { can } = useAuth();
  const queryClient = useQueryClient();
  const sites = useQuery({ queryKey: ['sites'], queryFn: () => api.get<SitesData>('/sites', { limit: 1000 }) });
  const [siteId, setSiteId] = useState<string | null>(null);
  const selected = siteId ?? sites.data?.data[0]?.id ?? null;
  const cameras = useQuery({
    queryKey: ['cameras', 'site', selected],
    queryFn: () => api.get<CamerasPage>('/cameras', { site_id: selected, limit: 1000 }),
    enabled: !!selected,
  });
  const manage = can('camera.manage');
  const refresh = () => { void queryClient.invalidateQueries({ queryKey: ['sites'] }); void queryClient.invalidateQueries({ queryKey: ['cameras'] }); };

  return (
    <Stack>
      <Title order={1}>Sites and cameras</Title>
      <ErrorBanner error={sites.error} onRetry={() => void sites.refetch()} />
      {sites.isLoading && <Loader aria-label="Loading sites" />}
      {sites.data && (
        <Group align="flex-end">
          <Select label="Site" value={selected} onChange={setSiteId} allowDeselect={false} w={320}
            data={sites.data.data.map((s) => ({ value: s.id, label: `${s.friendly_name ?? s.name} (${s.name})` }))}
            placeholder={sites.data.count ? undefined : 'no site yet'} />
        </Group>
      )}
      {selected && (
        <Card withBorder>
          <Title order={2} size="h4" mb="xs">Cameras</Title>
          <ErrorBanner error={cameras.error} />
          <Table.ScrollContainer minWidth={600}>
            <Table striped aria-label="Cameras of the site" data-testid="cameras-table">
              <Table.Thead><Table.Tr><Table.Th>Camera</Table.Th><Table.Th>Source</Table.Th><Table.Th>Group</Table.Th><Table.Th>Zones</Table.Th><Table.Th>Rules</Table.Th><Table.Th>Enabled</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {cameras.data?.data.map((c) => (
                  <Table.Tr key={c.id}>
                    <Table.Td><Anchor component={Link} to={`/cameras/${encodeURIComponent(c.id)}`} aria-label={`Edit camera ${c.id}`}>{c.friendly_name ?? c.key}</Anchor>
                      <Text size="xs" c="dimmed">{c.id}</Text></Table.Td>
                    <Table.Td><Text size="sm" truncate maw={260}>{c.source ?? '—'}</Text></Table.Td>
                    <Table.Td>{c.camera_group ?? '—'}</Table.Td>
                    <Table.Td>{Object.keys(c.config.zones ?? {}).length}</Table.Td>
                    <Table.Td>{Object.keys(c.config.rules ?? {}).length}</Table.Td>
                    <Table.Td><StatusBadge status={c.enabled ? 'enabled' : 'disabled'} /></Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          {cameras.data?.data.length === 0 && <Text c="dimmed" size="sm">No camera in this site.</Text>}
          {manage && <Stack mt="md"><Title order={3} size="h5">Add a camera</Title><NewCamera siteId={selected} onDone={refresh} /></Stack>}
        </Card>
      )}
      {manage ? (
        <Card withBorder>
          <Tabs defaultValue="new">
            <Tabs.List>
              <Tabs.Tab value="new">New site</Tabs.Tab>
              <Tabs.Tab value="import">Import a site file</Tabs.Tab>
            </Tabs.List>
            <Tabs.Panel value="new" pt="sm"><NewSite onDone={(s) => { refresh(); setSiteId(s.id); }} /></Tabs.Panel>
            <Tabs.Panel value="import" pt="sm"><ImportSite onDone={refresh} /></Tabs.Panel>
          </Tabs>
        </Card>
      ) : <Text size="sm" c="dimmed">Your role can view sites and cameras; supervisors and admins edit them.</Text>}
    </Stack>
  );
}
