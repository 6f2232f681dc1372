import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ActionIcon, Badge, Button, Card, Center, Group, Loader, SegmentedControl, SimpleGrid, Stack, Switch, Text, Title,
  Tooltip } from '@mantine/core';
import { IconArrowsMaximize, IconArrowsMinimize } from '@tabler/icons-react';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import { identityApi } from '../api/identity';
import type { CamerasPage } from '../api/endpoints';
import type { CameraPublic, CameraStatus, TrackingUpdate } from '../api/types';
import { StatusBadge } from '../components/Badges';
import { ErrorBanner } from '../components/ErrorBanner';
import { useBlobUrl } from '../components/Media';
import { TrackOverlay } from '../components/TrackOverlay';
import { useInterest, useStream } from '../realtime/RealtimeProvider';

interface Followed {
  cameraId: string;
  trackId: number;
  globalId: number | string | null;
  since: number;
}

const STALE_MS = 3000; // tracks older than this are not drawn (the camera stalled)

function CameraTile({ camera, status, update, enlarged, onEnlarge, followed, onFollow, skeletons, focusId = null }: {
  camera: CameraPublic;
  status: CameraStatus | undefined;
  update: TrackingUpdate | undefined;
  enlarged: boolean;
  onEnlarge: () => void;
  followed: Followed | null;
  onFollow: (f: Followed) => void;
  skeletons: boolean;
  focusId?: string | null; // the user's focused person (global id), highlighted wherever seen
}) {
  const running = status?.running || status?.state === 'streaming';
  const { url, error } = useBlobUrl(running ? `/cameras/${encodeURIComponent(camera.id)}/frame.jpg?overlay=false` : null,
    running ? (enlarged ? 500 : 1000) : undefined);
  const [natural, setNatural] = useState<[number, number] | null>(null);
  const fresh = update && Date.now() - update.t * 1000 < STALE_MS * 10 ? update : undefined;
  const tracks = fresh?.tracks ?? [];
  const resolution = fresh?.resolution_wh ?? natural ?? [1280, 720];
  const label = camera.friendly_name ?? camera.key;
  return (
    <Card withBorder padding="xs" data-testid="camera-tile" data-camera-id={camera.id} aria-label={`Camera ${label}`} role="region">
      <Group justify="space-between" mb={6} wrap="nowrap">
        <Group gap={6} wrap="nowrap">
          <Text fw={600} size="sm" truncate>{label}</Text>
          <StatusBadge status={status?.state ?? 'stopped'} />
        </Group>
        <Group gap={6} wrap="nowrap">
          <Badge variant="light" aria-label={`${fresh?.person_count ?? 0} people in view`} data-testid="person-count">
            {fresh?.person_count ?? 0} in view
          </Badge>
          <Tooltip label={enlarged ? 'Back to the grid' : 'Enlarge'}>
            <ActionIcon variant="default" onClick={onEnlarge} aria-label={enlarged ? `Back to the grid from ${label}` : `Enlarge ${label}`}>
              {enlarged ? <IconArrowsMinimize size={16} /> : <IconArrowsMaximize size={16} />}
            </ActionIcon>
          </Tooltip>
        </Group>
      </Group>
      <div style={{ position: 'relative', background: '#111', borderRadius: 6, overflow: 'hidden', aspectRatio: `${resolution[0]} / ${resolution[1]}` }}>
        {url ? (
          <img src={url} alt={`Latest frame of ${label}`} style={{ width: '100%', height: '100%', display: 'block', objectFit: 'fill' }}
            onLoad={(e) => setNatural([e.currentTarget.naturalWidth, e.currentTarget.naturalHeight])} />
        ) : (
          <Center h="100%" c="gray.5">
            {running ? (error ? <Text size="sm">No frame yet</Text> : <Loader size="sm" aria-label="Loading frame" />) : <Text size="sm">Camera not running</Text>}
          </Center>
        )}
        <TrackOverlay tracks={tracks} resolutionWh={resolution} cameraLabel={label} showSkeleton={skeletons}
          followed={(focusId != null ? tracks.find((t) => String(t.global_id) === focusId)?.track_id : undefined)
            ?? (followed?.cameraId === camera.id ? followed.trackId : null)}
          onFollow={(trackId) => onFollow({ cameraId: camera.id, trackId, since: Date.now(),
            globalId: tracks.find((t) => t.track_id === trackId)?.global_id ?? null })} />
      </div>
      <Text size="xs" c="dimmed" mt={4}>
        {status?.fps_in != null ? `${status.fps_in.toFixed(1)} fps in · ${(status.fps_out ?? 0).toFixed(1)} fps analysed` : 'no health yet'}
        {status?.lag_s != null ? ` · lag ${status.lag_s.toFixed(2)} s` : ''}
        {status?.reconnects ? ` · ${status.reconnects} reconnects` : ''}
        {status?.error ? ` · ${status.error}` : ''}
      </Text>
    </Card>
  );
}

export function LivePage() {
  const cameras = useQuery({ queryKey: ['cameras', 'all'], queryFn: () => api.get<CamerasPage>('/cameras', { limit: 1000 }) });
  const statuses = useQuery({ queryKey: ['camera-status'], queryFn: () => api.get<CameraStatus[]>('/cameras/status'), refetchInterval: 5000 });
  const [enlarged, setEnlarged] = useState<string | null>(null);
  const [followed, setFollowed] = useState<Followed | null>(null);
  const [columns, setColumns] = useState('2');
  const [skeletons, setSkeletons] = useState(true);
  const focus = useQuery({ queryKey: ['focus'], queryFn: identityApi.focus, refetchInterval: 3000 });
  const focusId = focus.data?.focused_person_id ?? null;
  const latest = useRef(new Map<string, TrackingUpdate>());
  const [, setTick] = useState(0);
  const frame = useRef<number | null>(null);

  const list = useMemo(() => (cameras.data?.data ?? []).filter((c) => c.enabled && c.source), [cameras.data]);
  const ids = useMemo(() => list.map((c) => c.id), [list]);
  useInterest(ids.length ? ids : null);
  const redraw = useCallback(() => {
    if (frame.current === null) {
      frame.current = requestAnimationFrame(() => {
        frame.current = null;
        setTick((t) => t + 1);
      });
    }
  }, []);
  useEffect(() => () => { if (frame.current !== null) cancelAnimationFrame(frame.current); }, []);
  useStream((m) => {
    if (m.kind !== 'tracking_update') return;
    latest.current.set(m.camera_id, m);
    if (followed?.globalId != null && m.camera_id !== followed.cameraId) {
      const match = m.tracks.find((t) => t.global_id === followed.globalId);
      if (match) setFollowed({ ...followed, cameraId: m.camera_id, trackId: match.track_id });
    }
    redraw();
  });
  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      if (e.key === 'Escape') { setEnlarged(null); setFollowed(null); }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const statusOf = (id: string) => statuses.data?.find((s) => s.camera_id === id);
  const followedUpdate = followed ? latest.current.get(followed.cameraId) : undefined;
  const followedTrack = followedUpdate?.tracks.find((t) => t.track_id === followed?.trackId);
  const shown = enlarged ? list.filter((c) => c.id === enlarged) : list;
  const others = enlarged ? list.filter((c) => c.id !== enlarged) : [];
  const tile = (c: CameraPublic, big: boolean) => (
    <CameraTile key={c.id} camera={c} status={statusOf(c.id)} update={latest.current.get(c.id)} enlarged={big}
      onEnlarge={() => setEnlarged(big ? null : c.id)} followed={followed} onFollow={setFollowed} skeletons={skeletons}
      focusId={focusId} />
  );

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Live</Title>
        <Group>
          <Switch label="Skeletons" checked={skeletons} onChange={(e) => setSkeletons(e.currentTarget.checked)} />
          {!enlarged && (
            <SegmentedControl aria-label="Grid columns" value={columns} onChange={setColumns}
              data={[{ label: '1', value: '1' }, { label: '2', value: '2' }, { label: '3', value: '3' }, { label: '4', value: '4' }]} />
          )}
        </Group>
      </Group>
      <ErrorBanner error={cameras.error ?? statuses.error} onRetry={() => { void cameras.refetch(); void statuses.refetch(); }} />
      {followed && (
        <Card withBorder padding="sm" role="status" aria-label="Followed person" data-testid="followed-panel">
          <Group justify="space-between">
            <Text size="sm">
              Following person <b>#{followed.trackId}</b> on <b>{followed.cameraId}</b>
              {followedTrack ? ` · confidence ${followedTrack.confidence.toFixed(2)} · in view` : ' · out of view'}
              {' · '}{Math.round((Date.now() - followed.since) / 1000)} s
            </Text>
            <Button size="xs" variant="default" onClick={() => setFollowed(null)}>Stop following</Button>
          </Group>
        </Card>
      )}
      {focusId && (
        <Card withBorder padding="sm" role="status" aria-label="Focused person" data-testid="focus-banner">
          <Group justify="space-between">
            <Text size="sm">Focus on person <b>{focusId.slice(0, 8)}</b>: highlighted in every camera that sees them</Text>
            <Button size="xs" variant="default" onClick={() => void identityApi.clearFocus().then(() => focus.refetch())}>Clear focus</Button>
          </Group>
        </Card>
      )}
      {cameras.isLoading && <Loader aria-label="Loading cameras" />}
      {cameras.data && list.length === 0 && <Text c="dimmed">No live camera is configured. Add one under Sites &amp; cameras.</Text>}
      {enlarged ? (
        <Stack>
          {shown.map((c) => tile(c, true))}
          {others.length > 0 && <SimpleGrid cols={{ base: 2, md: 4 }}>{others.map((c) => tile(c, false))}</SimpleGrid>}
        </Stack>
      ) : (
        <SimpleGrid cols={{ base: 1, sm: Math.min(2, Number(columns)), lg: Number(columns) }}>{shown.map((c) => tile(c, false))}</SimpleGrid>
      )}
    </Stack>
  );
}
