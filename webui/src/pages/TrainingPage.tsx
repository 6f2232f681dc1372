import { useState, type FormEvent } from 'react';
import { Alert, Anchor, Badge, Button, Card, Group, Loader, NumberInput, Progress, Select, SimpleGrid, Stack, Table, Text, TextInput,
  Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useAuth } from '../api/auth';
import { api, describeError } from '../api/client';
import { modelStageActions } from '../api/endpoints';
import type { BehaviourModel, ModelStages, Paged, TrainingLabels, TrainingMetrics, TrainingRun } from '../api/types';
import { StatusBadge } from '../components/Badges';
import { ErrorBanner } from '../components/ErrorBanner';
import { FilePicker } from '../components/FilePicker';
import { fmtDateTime, fmtPercent, fmtSeconds } from '../components/format';
import { MetricsView } from '../components/Metrics';
import { ComparisonTable, LabelCounts, ModelStagePanel } from '../components/ModelStages';
import { useStream } from '../realtime/RealtimeProvider';

const FINISHED = ['done', 'failed'];

function StartRun({ onStarted }: { onStarted: () => void }) {
  const [dataDir, setDataDir] = useState('');
  const [labels, setLabels] = useState<File[]>([]);
  const [fps, setFps] = useState<number | string>('');
  const [imgsz, setImgsz] = useState<number | string>('');
  const [windowFrames, setWindowFrames] = useState<number | string>('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const num = (v: number | string) => (v === '' ? undefined : Number(v));
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    try {
      const labelsCsv = labels[0] ? await labels[0].text() : undefined;
      await api.post('/training/runs', { data_dir: dataDir.trim(), labels_csv: labelsCsv, fps: num(fps), imgsz: num(imgsz), window: num(windowFrames) });
      setError(null);
      onStarted();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form onSubmit={submit} aria-label="Start a training run">
      <Stack>
        <SimpleGrid cols={{ base: 1, md: 2 }}>
          <TextInput label="Labelled clips (DATA_DIR)" description="A folder (as the workers see it) or s3:// prefix, one sub-folder per class"
            required value={dataDir} onChange={(e) => setDataDir(e.currentTarget.value)} />
          <FilePicker label="Labels CSV (optional)" name="labels" accept=".csv,text/csv" onChange={setLabels}
            description="clip,t_start_s,t_end_s,label[,track_id] instead of class folders" />
        </SimpleGrid>
        <Group align="flex-end">
          <NumberInput hideControls label="Sampling (fps)" placeholder="default" value={fps} onChange={setFps} min={0.5} max={30} w={140} />
          <NumberInput hideControls label="Pose size (px)" placeholder="default" value={imgsz} onChange={setImgsz} min={320} max={3840} w={140} />
          <NumberInput hideControls label="Window (frames)" placeholder="default" value={windowFrames} onChange={setWindowFrames} min={2} max={300} w={140} />
          <Button type="submit" loading={busy} disabled={!dataDir.trim()}>Start training</Button>
        </Group>
        {error && <Alert color="red" role="alert" variant="light" title="Not started">{error}</Alert>}
      </Stack>
    </form>
  );
}

export function TrainingPage() {
  const { can } = useAuth();
  const queryClient = useQueryClient();
  const [live, setLive] = useState<Record<string, { done: number; total: number; eta?: number }>>({});
  const runs = useQuery({
    queryKey: ['training', 'runs'],
    queryFn: () => api.get<Paged<TrainingRun>>('/training/runs', { limit: 50 }),
    refetchInterval: (q) => ((q.state.data?.data ?? []).some((r) => !FINISHED.includes(r.status)) ? 3000 : 30_000),
  });
  const models = useQuery({ queryKey: ['training', 'models'], queryFn: () => api.get<Paged<BehaviourModel>>('/models/behaviour') });
  const stages = useQuery({ queryKey: ['training', 'stages'], queryFn: () => api.get<ModelStages>('/models/behaviour/stages') });
  const labels = useQuery({ queryKey: ['training', 'labels'], queryFn: () => api.get<TrainingLabels>('/training/labels', { limit: 20 }) });
  const [selected, setSelected] = useState<string | null>(null);
  const [report, setReport] = useState<{ title: string; metrics: TrainingMetrics } | null>(null);
  useStream((m) => {
    if (m.kind === 'training_progress') setLive((s) => ({ ...s, [m.run_id]: { done: m.frames_done, total: m.frames_total, eta: m.eta_s } }));
    if (m.kind === 'training_done') void queryClient.invalidateQueries({ queryKey: ['training'] });
  });
  const modelList = models.data?.data ?? [];
  const current = modelList.find((m) => m.version === selected) ?? modelList.find((m) => m.latest) ?? modelList[modelList.length - 1];
  const shown = report ?? (current?.metrics && Object.keys(current.metrics).length ? { title: `Model ${current.version}`, metrics: current.metrics } : null);

  return (
    <Stack>
      <Title order={1}>Training</Title>
      <Text size="sm" c="dimmed">Retrain the behaviour classifier on labelled clips; until a model exists the explainable heuristics decide.</Text>
      <Card withBorder>
        <Title order={2} size="h4" mb="sm">Operators' labels</Title>
        <Text size="sm" c="dimmed" mb="xs">Dismissed and escalated alerts and confirmed or rejected events become training examples
          (<code>witness train behaviour --from-labels</code>).</Text>
        <ErrorBanner error={labels.error} onRetry={() => void labels.refetch()} />
        {labels.data && <LabelCounts labels={labels.data} />}
        {!!labels.data?.data.length && (
          <Table.ScrollContainer minWidth={600} mt="sm">
            <Table aria-label="Training labels">
              <Table.Thead><Table.Tr><Table.Th>Given</Table.Th><Table.Th>Label</Table.Th><Table.Th>Source</Table.Th><Table.Th>From</Table.Th><Table.Th>Reason</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {labels.data.data.map((l) => (
                  <Table.Tr key={l.id}>
                    <Table.Td>{fmtDateTime(l.created_at)}<Text size="xs" c="dimmed">{l.given_by}</Text></Table.Td>
                    <Table.Td>
                      {can('model.train') ? (
                        <Select size="xs" w={140} aria-label={`Label of ${l.id}`} value={l.label} allowDeselect={false}
                          data={['normal', 'pickup', 'concealment', 'bypass']}
                          onChange={(v) => { if (v && v !== l.label) void api.patch(`/training/labels/${l.id}`, { label: v }).then(() => queryClient.invalidateQueries({ queryKey: ['training', 'labels'] })); }} />
                      ) : <Badge variant="light">{l.label}</Badge>}
                    </Table.Td>
                    <Table.Td>{l.source}</Table.Td>
                    <Table.Td>{l.alert_id ? <Anchor href={`/alerts/${l.alert_id}`}>alert</Anchor> : `event ${l.event_id ?? ''}`}
                      <Text size="xs" c="dimmed">{l.camera_id ?? l.video_id ?? ''}{l.track_id != null ? ` · track ${l.track_id}` : ''}</Text></Table.Td>
                    <Table.Td><Text size="sm" truncate maw={240}>{l.reason ?? ''}</Text></Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Card>
      {can('model.train') && (
        <Card withBorder><Title order={2} size="h4" mb="sm">New run</Title>
          <StartRun onStarted={() => void queryClient.invalidateQueries({ queryKey: ['training'] })} /></Card>
      )}
      <Card withBorder>
        <Title order={2} size="h4" mb="sm">Runs</Title>
        <ErrorBanner error={runs.error} onRetry={() => void runs.refetch()} />
        {runs.isLoading && <Loader aria-label="Loading runs" />}
        {runs.data?.data.length === 0 && <Text size="sm" c="dimmed">No training run yet.</Text>}
        {!!runs.data?.data.length && (
          <Table.ScrollContainer minWidth={700}>
            <Table aria-label="Training runs">
              <Table.Thead><Table.Tr><Table.Th>Started</Table.Th><Table.Th>Clips</Table.Th><Table.Th>Status</Table.Th><Table.Th w="28%">Progress</Table.Th><Table.Th>Model</Table.Th></Table.Tr></Table.Thead>
              <Table.Tbody>
                {runs.data.data.map((r) => {
                  const l = live[r.id];
                  const p = FINISHED.includes(r.status) ? (r.status === 'done' ? 1 : r.progress) : Math.max(r.progress, l && l.total ? l.done / l.total : 0);
                  return (
                    <Table.Tr key={r.id}>
                      <Table.Td>{fmtDateTime(r.created_at)}<Text size="xs" c="dimmed">{r.created_by ?? ''}</Text></Table.Td>
                      <Table.Td><Text size="sm" truncate maw={220}>{r.data_dir}</Text></Table.Td>
                      <Table.Td><StatusBadge status={r.status} />{r.error && <Text size="xs" c="red">{r.error}</Text>}</Table.Td>
                      <Table.Td>
                        <Progress value={p * 100} animated={!FINISHED.includes(r.status)} aria-label={`Run ${r.id}: ${fmtPercent(p)}`} />
                        {l?.eta != null && !FINISHED.includes(r.status) && <Text size="xs" c="dimmed">about {fmtSeconds(l.eta)} left</Text>}
                      </Table.Td>
                      <Table.Td>
                        {r.version && Object.keys(r.report ?? {}).length ? (
                          <Anchor component="button" type="button" onClick={() => setReport({ title: `Run ${r.id} (${r.version})`, metrics: r.report as TrainingMetrics })}
                            aria-label={`Show the report of run ${r.id}`}>{r.version}</Anchor>
                        ) : (r.version ?? '—')}
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Card>
      <Card withBorder>
        <Group justify="space-between" mb="sm">
          <Title order={2} size="h4">Model metrics</Title>
          {modelList.length > 0 && (
            <Select aria-label="Model version" value={current?.version ?? null} onChange={(v) => { setSelected(v); setReport(null); }} allowDeselect={false}
              data={modelList.map((m) => ({ value: m.version, label: `${m.version}${m.stages?.length ? ` (${m.stages.join(', ')})` : m.latest ? ' (latest)' : ''}` }))} w={240} />
          )}
        </Group>
        <ErrorBanner error={models.error} onRetry={() => void models.refetch()} />
        {models.data && modelList.length === 0 && !report && <Text size="sm" c="dimmed">No trained model yet.</Text>}
        {shown && (
          <Stack>
            <Group gap="xs"><Badge>{shown.title}</Badge>{!report && current?.latest && <Badge color="gray">latest</Badge>}
              {!report && <Text size="sm" c="dimmed">trained {current?.trained_at ?? current?.saved_at ?? '—'}</Text>}</Group>
            {!report && current && (
              <ModelStagePanel model={current} stages={stages.data} canChange={can('model.train')} actions={modelStageActions}
                onChanged={() => void queryClient.invalidateQueries({ queryKey: ['training'] })} />
            )}
            {!report && current?.comparison && (
              <ComparisonTable comparison={current.comparison} accuracy={Number(shown.metrics.accuracy ?? 0)} macroF1={Number(shown.metrics.macro_f1 ?? 0)} />
            )}
            <MetricsView metrics={shown.metrics} />
          </Stack>
        )}
      </Card>
    </Stack>
  );
}
