import { useState } from 'react';
import { Alert, Anchor, Button, Card, Group, Loader, Progress, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router-dom';
import { useAuth } from '../api/auth';
import { api, describeError } from '../api/client';
import type { EventsPage } from '../api/endpoints';
import { FINISHED_JOB, type JobDetailPublic, type JobResults } from '../api/types';
import { SeverityBadge, StatusBadge } from '../components/Badges';
import { ErrorBanner } from '../components/ErrorBanner';
import { fmtDateTime, fmtPercent, fmtSeconds } from '../components/format';
import { ClipPlayer } from '../components/Media';
import { useInterest, useStream } from '../realtime/RealtimeProvider';

export function JobDetailPage() {
  const { jobId = '' } = useParams();
  const { can } = useAuth();
  const queryClient = useQueryClient();
  const [live, setLive] = useState<{ done: number; total: number; fps?: number; eta?: number } | null>(null);
  const [clip, setClip] = useState<string | null>(null);
  const [cancelError, setCancelError] = useState<string | null>(null);
  const job = useQuery({
    queryKey: ['jobs', 'detail', jobId],
    queryFn: () => api.get<JobDetailPublic>(`/jobs/${jobId}`),
    refetchInterval: (q) => (q.state.data && FINISHED_JOB.includes(q.state.data.status) ? false : 3000),
  });
  const finished = !!job.data && FINISHED_JOB.includes(job.data.status);
  const results = useQuery({ queryKey: ['jobs', 'results', jobId], queryFn: () => api.get<JobResults>(`/jobs/${jobId}/results`), enabled: finished });
  const events = useQuery({ queryKey: ['jobs', 'events', jobId], queryFn: () => api.get<EventsPage>(`/jobs/${jobId}/events`, { limit: 200 }), enabled: finished });
  useInterest(null, finished || !jobId ? [] : [jobId]);
  useStream((m) => {
    if (m.kind === 'job_progress' && m.job_id === jobId) setLive({ done: m.frames_done, total: m.frames_total, fps: m.fps, eta: m.eta_s });
    if (m.kind === 'job_done' && m.job_id === jobId) void queryClient.invalidateQueries({ queryKey: ['jobs'] });
  });

  if (job.isLoading) return <Loader aria-label="Loading job" />;
  if (job.error || !job.data) return <Stack><Title order={1}>Job</Title><ErrorBanner error={job.error} onRetry={() => void job.refetch()} /></Stack>;
  const j = job.data;
  const progress = finished ? j.progress : Math.max(j.progress, live && live.total ? live.done / live.total : 0);

  async function cancel() {
    setCancelError(null);
    try {
      await api.post(`/jobs/${jobId}/cancel`);
      void queryClient.invalidateQueries({ queryKey: ['jobs'] });
    } catch (err) {
      setCancelError(describeError(err));
    }
  }

  return (
    <Stack>
      <Group justify="space-between">
        <Group><Title order={1}>Job {j.id}</Title><StatusBadge status={j.status} /></Group>
        <Anchor component={Link} to="/jobs">All jobs</Anchor>
      </Group>
      <Card withBorder>
        <Stack gap="xs">
          <Group justify="space-between">
            <Text size="sm">Created {fmtDateTime(j.created_at)}{j.finished_at ? ` · finished ${fmtDateTime(j.finished_at)}` : ''}</Text>
            {!finished && can('job.cancel') && <Button size="xs" color="red" variant="light" onClick={() => void cancel()}>Cancel job</Button>}
          </Group>
          <Progress value={progress * 100} size="lg" animated={!finished} aria-label={`Job progress ${fmtPercent(progress)}`}
            data-testid="job-progress" data-status={j.status} />
          <Text size="sm" c="dimmed" data-testid="job-status-text">
            {finished ? `Finished: ${j.status}` : `${fmtPercent(progress)} · ${live ? `${live.done} / ${live.total} frames` : `${j.frames_done} / ${j.frames_total || '?'} frames`}`}
            {!finished && live?.fps ? ` · ${live.fps.toFixed(1)} fps` : ''}{!finished && live?.eta != null ? ` · about ${fmtSeconds(live.eta)} left` : ''}
          </Text>
          {j.error && <Alert color="red" variant="light" role="alert">{j.error}</Alert>}
          {cancelError && <Alert color="red" variant="light" role="alert">{cancelError}</Alert>}
        </Stack>
      </Card>
      <Card withBorder>
        <Title order={2} size="h4" mb="xs">Videos</Title>
        <Table.ScrollContainer minWidth={600}>
          <Table aria-label="Videos of the job">
            <Table.Thead><Table.Tr><Table.Th>Name</Table.Th><Table.Th>Status</Table.Th><Table.Th>Duration</Table.Th><Table.Th>Size</Table.Th><Table.Th>Camera</Table.Th><Table.Th>Error</Table.Th><Table.Th>Playback</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {j.videos.map((v) => (
                <Table.Tr key={v.id}>
                  <Table.Td>{v.name}</Table.Td><Table.Td><StatusBadge status={v.status} /></Table.Td>
                  <Table.Td>{fmtSeconds(v.duration_s)}</Table.Td><Table.Td>{v.width && v.height ? `${v.width}×${v.height}` : '—'}</Table.Td>
                  <Table.Td>{v.camera_id ?? '—'}</Table.Td><Table.Td>{v.error ?? ''}</Table.Td>
                  <Table.Td>{v.status === 'done'
                    ? <Anchor component={Link} to={`/playback/${v.id}`} size="sm" aria-label={`Play ${v.name} with its tracks`}>Play with tracks</Anchor>
                    : '—'}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      </Card>
      {finished && (
        <Card withBorder data-testid="job-results">
          <Title order={2} size="h4" mb="xs">Results</Title>
          <ErrorBanner error={results.error ?? events.error} />
          {results.data?.videos.map((v) => (
            <Stack key={v.video_id} gap="xs" mb="md">
              <Text fw={600}>{v.name}</Text>
              <Group gap="lg">
                <Text size="sm" data-testid="result-people">{v.people} people</Text>
                <Text size="sm" data-testid="result-tracks">{v.tracks} tracks</Text>
                <Text size="sm">{Object.entries(v.events_by_type).map(([t, n]) => `${n} ${t}`).join(', ') || 'no events'}</Text>
              </Group>
              {!!v.alerts?.length && (
                <Group gap="xs" aria-label="Alerts raised in this video">
                  {v.alerts.map((a) => (
                    <Anchor key={a.id} component={Link} to={`/alerts/${a.id}`} size="sm">
                      <Group gap={4}><SeverityBadge severity={a.severity} /> person {a.track_id ?? '?'} · {a.score.toFixed(2)}</Group>
                    </Anchor>
                  ))}
                </Group>
              )}
              {v.clips.length > 0 && (
                <Group gap="xs">
                  {v.clips.slice(0, 20).map((c) => (
                    <Button key={c.event_id} size="xs" variant={clip === c.event_id ? 'filled' : 'default'} onClick={() => setClip(c.event_id)}
                      aria-label={`Play the clip of the event at ${fmtSeconds(c.t_start_s)}`}>
                      clip {fmtSeconds(c.t_start_s)}
                    </Button>
                  ))}
                </Group>
              )}
            </Stack>
          ))}
          {clip && <SimpleGrid cols={{ base: 1, md: 2 }}><ClipPlayer key={clip} eventId={clip} /></SimpleGrid>}
          {events.data && (
            <Table.ScrollContainer minWidth={600}>
              <Table aria-label="Events of the job" mt="sm">
                <Table.Thead><Table.Tr><Table.Th>Type</Table.Th><Table.Th>Rule</Table.Th><Table.Th>Zone</Table.Th><Table.Th>Person</Table.Th><Table.Th>From – to</Table.Th></Table.Tr></Table.Thead>
                <Table.Tbody>
                  {events.data.data.map((e) => (
                    <Table.Tr key={e.id}><Table.Td>{e.type}</Table.Td><Table.Td>{e.rule}</Table.Td><Table.Td>{e.zone ?? '—'}</Table.Td>
                      <Table.Td>{e.track_id ?? '—'}</Table.Td><Table.Td>{fmtSeconds(e.t_start_s)} – {fmtSeconds(e.t_end_s)}</Table.Td></Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )}
        </Card>
      )}
    </Stack>
  );
}
