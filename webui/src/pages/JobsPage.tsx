import { useState, type FormEvent } from 'react';
import { Alert, Anchor, Button, Card, Group, Loader, NumberInput, Progress, SimpleGrid, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate } from 'react-router-dom';
import { useAuth } from '../api/auth';
import { api, describeError } from '../api/client';
import type { JobsPage as JobsData } from '../api/endpoints';
import { FINISHED_JOB, type JobSubmitted } from '../api/types';
import { StatusBadge } from '../components/Badges';
import { ErrorBanner } from '../components/ErrorBanner';
import { FilePicker } from '../components/FilePicker';
import { fmtDateTime, fmtPercent } from '../components/format';
import { useInterest, useStream } from '../realtime/RealtimeProvider';

export function UploadForm({ onSubmitted }: { onSubmitted: (job: JobSubmitted) => void }) {
  const [videos, setVideos] = useState<File[]>([]);
  const [site, setSite] = useState<File[]>([]);
  const [pos, setPos] = useState<File[]>([]);
  const [fps, setFps] = useState<number | string>('');
  const [imgsz, setImgsz] = useState<number | string>('');
  const [videoStart, setVideoStart] = useState('');
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [formKey, setFormKey] = useState(0);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!videos.length) {
      setError('Choose at least one video.');
      return;
    }
    const form = new FormData();
    videos.forEach((f) => form.append('files', f, f.name));
    if (site[0]) form.append('site', site[0], site[0].name);
    if (pos[0]) form.append('pos', pos[0], pos[0].name);
    if (pos[0] && videoStart) form.append('video_start', new Date(videoStart).toISOString());
    if (fps !== '') form.append('fps', String(fps));
    if (imgsz !== '') form.append('imgsz', String(imgsz));
    setError(null);
    setProgress(0);
    try {
      const job = await api.upload<JobSubmitted>('/jobs', form, setProgress);
      setVideos([]); setSite([]); setPos([]); setFormKey((k) => k + 1);
      onSubmitted(job);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setProgress(null);
    }
  }

  return (
    <form onSubmit={submit} aria-label="Upload videos" key={formKey}>
      <Stack>
        <SimpleGrid cols={{ base: 1, md: 3 }}>
          <FilePicker label="Videos" name="videos" accept="video/*,.avi,.mkv,.mp4,.mov" multiple required onChange={setVideos}
            description="One job analyses them all" />
          <FilePicker label="Site file (optional)" name="site" accept=".yaml,.yml,text/yaml" onChange={setSite}
            description="Cameras, zones and rules (YAML)" />
          <FilePicker label="POS file (optional)" name="pos" accept=".csv,.json,.jsonl" onChange={setPos}
            description="Transactions to cross-check" />
        </SimpleGrid>
        <Group align="flex-end">
          <NumberInput hideControls label="Detection rate (fps)" placeholder="default" min={0.1} max={60} step={0.5} value={fps} onChange={setFps} w={180} />
          <NumberInput hideControls label="Inference size (px)" placeholder="default" min={320} max={3840} step={32} value={imgsz} onChange={setImgsz} w={180} />
          {pos.length > 0 && (
            <TextInput type="datetime-local" label="Video start (POS clock)" description="Needed when the POS file has wall-clock times"
              value={videoStart} onChange={(e) => setVideoStart(e.currentTarget.value)} step={1} w={260} />
          )}
          <Button type="submit" loading={progress !== null} disabled={!videos.length}>Upload and analyse</Button>
        </Group>
        {progress !== null && (
          <Progress value={progress * 100} animated aria-label={`Upload ${fmtPercent(progress)}`} data-testid="upload-progress" />
        )}
        {error && <Alert color="red" role="alert" variant="light" title="Upload failed">{error}</Alert>}
      </Stack>
    </form>
  );
}

export function JobsPage() {
  const { can } = useAuth();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [live, setLive] = useState<Record<string, number>>({});
  const jobs = useQuery({ queryKey: ['jobs', 'list'], queryFn: () => api.get<JobsData>('/jobs', { limit: 50 }), refetchInterval: 10_000 });
  const running = (jobs.data?.data ?? []).filter((j) => !FINISHED_JOB.includes(j.status)).map((j) => j.id);
  useInterest(null, running);
  useStream((m) => {
    if (m.kind === 'job_progress' && m.frames_total > 0) setLive((s) => ({ ...s, [m.job_id]: m.frames_done / m.frames_total }));
    if (m.kind === 'job_done') void queryClient.invalidateQueries({ queryKey: ['jobs'] });
  });

  return (
    <Stack>
      <Title order={1}>Jobs</Title>
      {can('job.submit') ? (
        <Card withBorder>
          <Title order={2} size="h4" mb="sm">Analyse footage</Title>
          <UploadForm onSubmitted={(job) => { void queryClient.invalidateQueries({ queryKey: ['jobs'] }); navigate(`/jobs/${job.id}`); }} />
        </Card>
      ) : <Text c="dimmed" size="sm">Your role can follow jobs but not submit them.</Text>}
      <ErrorBanner error={jobs.error} onRetry={() => void jobs.refetch()} />
      {jobs.isLoading && <Loader aria-label="Loading jobs" />}
      {jobs.data && (
        <Table.ScrollContainer minWidth={700}>
          <Table striped highlightOnHover aria-label="Jobs" data-testid="jobs-table">
            <Table.Thead>
              <Table.Tr><Table.Th>Job</Table.Th><Table.Th>Created</Table.Th><Table.Th>Status</Table.Th><Table.Th w="30%">Progress</Table.Th><Table.Th>Videos</Table.Th></Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {jobs.data.data.map((j) => {
                const p = FINISHED_JOB.includes(j.status) ? j.progress : Math.max(j.progress, live[j.id] ?? 0);
                return (
                  <Table.Tr key={j.id} data-job-id={j.id}>
                    <Table.Td><Anchor component={Link} to={`/jobs/${j.id}`}>{j.id}</Anchor></Table.Td>
                    <Table.Td>{fmtDateTime(j.created_at)}</Table.Td>
                    <Table.Td><StatusBadge status={j.status} /></Table.Td>
                    <Table.Td><Progress value={p * 100} aria-label={`Job ${j.id} ${fmtPercent(p)} done`} /></Table.Td>
                    <Table.Td>{j.videos_total}{j.videos_failed ? ` (${j.videos_failed} failed)` : ''}</Table.Td>
                  </Table.Tr>
                );
              })}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {jobs.data?.data.length === 0 && <Text c="dimmed">No job yet.</Text>}
    </Stack>
  );
}
