// Playback of an analysed video: the browser plays it (from its source, or a playable copy) and the
// stored tracks, zones and lines are drawn in sync with the frame on screen; events jump the video; for a
// calibrated camera a floor-plan card replays the people's positions.

import { useEffect, useRef, useState } from 'react';
import { Alert, Anchor, Button, Card, Group, Loader, Progress, Stack, Switch, Text, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router-dom';
import { analyticsApi, type ExportJob, type MediaUrl } from '../api/analytics';
import { describeError } from '../api/client';
import { ErrorBanner } from '../components/ErrorBanner';
import { FloorMap } from '../components/FloorMap';
import { EventTimeline } from '../components/playback/EventTimeline';
import { boxesAt, mapAt } from '../components/playback/overlay';
import { PlaybackOverlay } from '../components/playback/PlaybackOverlay';

type FrameVideo = HTMLVideoElement & {
  requestVideoFrameCallback?: (cb: (now: number, meta: { mediaTime: number }) => void) => number;
  cancelVideoFrameCallback?: (id: number) => void;
};

/** The media time on screen, updated every painted frame (requestVideoFrameCallback, else animation frames). */
function useMediaTime(video: FrameVideo | null): number {
  const [t, setT] = useState(0);
  useEffect(() => {
    if (!video) return undefined;
    let stop = false;
    let id = 0;
    if (video.requestVideoFrameCallback) {
      const tick = (_now: number, meta: { mediaTime: number }) => {
        setT(meta.mediaTime);
        if (!stop) id = video.requestVideoFrameCallback!(tick);
      };
      id = video.requestVideoFrameCallback(tick);
      const onSeeked = () => setT(video.currentTime);
      video.addEventListener('seeked', onSeeked);
      return () => { stop = true; video.cancelVideoFrameCallback?.(id); video.removeEventListener('seeked', onSeeked); };
    }
    const loop = () => {
      setT(video.currentTime);
      if (!stop) id = requestAnimationFrame(loop);
    };
    id = requestAnimationFrame(loop);
    return () => { stop = true; cancelAnimationFrame(id); };
  }, [video]);
  return t;
}

export function PlaybackPage() {
  const { videoId = '' } = useParams();
  const queryClient = useQueryClient();
  const info = useQuery({ queryKey: ['playback', videoId], queryFn: () => analyticsApi.playback(videoId) });
  const tracks = useQuery({ queryKey: ['playback', 'tracks', videoId], queryFn: () => analyticsApi.playbackTracks(videoId) });
  const [media, setMedia] = useState<MediaUrl | null>(null);
  const [mediaError, setMediaError] = useState<unknown>(null);
  const [preparing, setPreparing] = useState<ExportJob | null>(null);
  const [showTracks, setShowTracks] = useState(true);
  const [showZones, setShowZones] = useState(true);
  const [video, setVideo] = useState<FrameVideo | null>(null);
  const [ready, setReady] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const t = useMediaTime(video);
  useEffect(() => () => { if (timer.current) clearTimeout(timer.current); }, []);

  const d = info.data;
  const plainExport = d?.playable_exports.find((e) => !e.overlays);
  useEffect(() => {
    if (!d || media) return;
    const get = d.source_playable ? analyticsApi.videoMediaUrl(d.video_id) : plainExport ? analyticsApi.exportMediaUrl(plainExport.id) : null;
    get?.then(setMedia, setMediaError);
  }, [d, plainExport, media]);

  async function follow(id: string) {
    try {
      const job = await analyticsApi.exportStatus(id);
      setPreparing(job);
      if (job.status === 'done') {
        void queryClient.invalidateQueries({ queryKey: ['playback', videoId] });
        setMedia(await analyticsApi.exportMediaUrl(job.id));
      } else if (job.status !== 'failed') {
        timer.current = setTimeout(() => void follow(id), 1000);
      }
    } catch (err) {
      setMediaError(err);
    }
  }

  async function prepare() {
    if (!d) return;
    setMediaError(null);
    try {
      const job = await analyticsApi.videoExport({ job_id: d.job_id, video: d.video_id, overlays: false });
      setPreparing(job);
      void follow(job.id);
    } catch (err) {
      setMediaError(err);
    }
  }

  if (info.isLoading) return <Loader aria-label="Loading video" />;
  if (info.error || !d) return <Stack><Title order={1}>Playback</Title><ErrorBanner error={info.error} onRetry={() => void info.refetch()} /></Stack>;
  const frame = Math.round(t * (d.fps || 1));
  const boxes = showTracks && tracks.data ? boxesAt(tracks.data.tracks, frame, Math.max(1, tracks.data.stride)) : [];
  const placed = d.plan && tracks.data ? mapAt(tracks.data.tracks, frame, Math.max(1, tracks.data.stride), Math.round(5 * (d.fps || 1))) : [];
  const wh = d.resolution_wh[0] && d.resolution_wh[1] ? d.resolution_wh : ([16, 9] as [number, number]);

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Playback: {d.name}</Title>
        <Anchor component={Link} to={`/jobs/${d.job_id}`}>Job {d.job_id}</Anchor>
      </Group>
      <Text size="sm" c="dimmed">{d.camera_id} · {d.fps} fps · {d.frame_count} frames · {d.resolution_wh.join('×')} px · tracks and zones are drawn by the browser from the stored results</Text>
      <ErrorBanner error={tracks.error ?? mediaError} />
      <Card withBorder>
        {media ? (
          <div style={{ position: 'relative', width: '100%', aspectRatio: `${wh[0]} / ${wh[1]}`, background: '#000' }}>
            <video ref={(el) => setVideo(el as FrameVideo | null)} src={media.url} controls preload="auto" playsInline muted
              aria-label={`Video ${d.name}`} data-testid="playback-video" data-ready={ready ? 'yes' : 'no'}
              onLoadedData={() => setReady(true)} style={{ position: 'absolute', inset: 0, width: '100%', height: '100%' }} />
            <PlaybackOverlay boxes={boxes} resolutionWh={d.resolution_wh} zones={d.zones} lines={d.lines} showZones={showZones} />
          </div>
        ) : (
          <Stack align="flex-start">
            <Text size="sm">{d.source_playable ? 'Loading the video…' : 'The original file does not play in a browser (its codec or container). A plain H.264 copy can be made once; the tracks are still drawn live over it.'}</Text>
            {!d.source_playable && !preparing && <Button onClick={() => void prepare()}>Prepare a playable copy</Button>}
            {preparing && preparing.status !== 'failed' && (
              <Group gap="xs" data-testid="playable-progress"><Progress value={preparing.progress * 100} w={200} animated aria-label={`Preparing ${Math.round(preparing.progress * 100)} %`} /><Text size="xs">{preparing.stage}</Text></Group>
            )}
            {preparing?.status === 'failed' && <Alert color="red" variant="light" role="alert">{preparing.error}</Alert>}
          </Stack>
        )}
        <Group mt="sm" justify="space-between">
          <Group>
            <Switch label="Show tracks" checked={showTracks} onChange={(e) => setShowTracks(e.currentTarget.checked)} />
            <Switch label="Show zones and lines" checked={showZones} onChange={(e) => setShowZones(e.currentTarget.checked)} />
          </Group>
          <Text size="sm" data-testid="playback-frame" aria-live="off">frame {frame} · {t.toFixed(2)} s · {boxes.length} people</Text>
        </Group>
      </Card>
      {d.plan && (
        <Card withBorder data-testid="playback-map">
          <Title order={2} size="h4" mb="xs">On the floor plan</Title>
          <FloorMap extent={d.plan.extent_m} height={320}
            cameras={[{ camera_id: d.camera_id, friendly_name: null, calibrated: true, reprojection_error_m: null,
              field_of_view: d.plan.field_of_view, image_points: [], map_points: [] }]}
            people={placed.map((p) => ({ globalId: p.globalId ?? `track-${p.trackId}`, trail: p.trail, cameraId: d.camera_id }))} />
          <Text size="xs" c="dimmed" mt={4}>Foot points of the stored tracks through the camera's calibration, with the last 5 s as a trail.</Text>
        </Card>
      )}
      <Card withBorder>
        <Title order={2} size="h4" mb="xs">Events</Title>
        <EventTimeline events={d.events} durationS={d.duration_s} currentS={t}
          onSeek={(s) => { if (video) { video.currentTime = s; } }} />
      </Card>
      {!!mediaError && <Text size="xs" c="dimmed">{describeError(mediaError)}</Text>}
    </Stack>
  );
}
