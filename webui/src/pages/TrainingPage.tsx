import { useState, type FormEvent } from 'react';
import { Alert, Badge, Button, Card, Group, Loader, NumberInput, Progress, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useAuth } from '../api/auth';
import { api, describeError } from '../api/client';
import type { BehaviourModel, Paged, TrainingRun } from '../api/types';
import { StatusBadge } from '../components/Badges';
import { ErrorBanner } from '../components/ErrorBanner';
import { fmtDateTime, fmtPercent } from '../components/format';
import { MetricsView } from '../components/Metrics';
import { useStream } from '../realtime/RealtimeProvider';

const FINISHED = ['done', 'failed', 'cancelled', 'succeeded', 'error'];

/** Lists may come as `{data, count}` or a bare array. */
function rows<T>(value: Paged<T> | T[] | undefined): T[] {
  if (!value) return [];
  return Array.isArray(value) ? value : value.data;
}

function StartRun({ onStarted }: { onStarted: () => void }) {
  const [dataDir, setDataDir] = useState('');
  const [labels, setLabels] = useState('');
  const [fps, setFps] = useState<number | string>('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    try {
      await api.post('/training/runs', { data_dir: dataDir.trim(), labels: labels.trim() || undefined, fps: fps === '' ? undefined : Number(fps) });
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
        <Group align="flex-end">
          <TextInput label="Labelled clips (DATA_DIR)" description="A folder or s3:// prefix with one sub-folder per class" required
            value={dataDir} onChange={(e) => setDataDir(e.currentTarget.value)} w={340} />
          <TextInput label="Labels CSV (optional)" value={labels} onChange={(e) => setLabels(e.currentTarget.value)} />
          <NumberInput label="Analysis fps" placeholder="default" value={fps} onChange={setFps} min={1} max={30} w={130} />
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
  const runs = useQuery({
    queryKey: ['training', 'runs'],
    queryFn: () => api.get<Paged<TrainingRun> | TrainingRun[]>('/training/runs'),
    refetchInterval: (q) => (rows(q.state.data).some((r) => !FINISHED.includes(r.status)) ? 2000 : 15_000),
  });
  const models = useQuery({ queryKey: ['training', 'models'], queryFn: () => api.get<Paged<BehaviourModel> | BehaviourModel[]>('/models/behaviour') });
  const [selected, setSelected] = useState<string | null>(null);
  useStream((m) => {
    if ((m as { kind: string }).kind.startsWith('training')) void queryClient.invalidateQueries({ queryKey: ['training'] });
  });
  const modelList = rows(models.data);
  const current = modelList.find((m) => m.version === selected) ?? modelList.find((m) => m.latest) ?? modelList[modelList.length - 1];

  return (
    <Stack>
      <Title order={1}>Training</Title>
      <Text size="sm" c="dimmed">Retrain the behaviour classifier on labelled clips; dismissed alerts are labelled examples too.</Text>
      {can('model.train') && (
        <Card withBorder><Title order={2} size="h4" mb="sm">New run</Title>
          <StartRun onStarted={() => void queryClient.invalidateQueries({ queryKey: ['training'] })} /></Card>
      )}
      <Card withBorder>
        <Title order={2} size="h4" mb="sm">Runs</Title>
        <ErrorBanner error={runs.error} onRetry={() => void runs.refetch()} />
        {runs.isLoading && <Loader aria-label="Loading runs" />}
        {runs.data && rows(runs.data).length === 0 && <Text size="sm" c="dimmed">No training run yet.</Text>}
        {rows(runs.data).length > 0 && (
          <Table aria-label="Training runs">
            <Table.Thead><Table.Tr><Table.Th>Run</Table.Th><Table.Th>Started</Table.Th><Table.Th>Status</Table.Th><Table.Th w="30%">Progress</Table.Th><Table.Th>Model</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {rows(runs.data).map((r) => (
                <Table.Tr key={r.id}>
                  <Table.Td>{r.id}</Table.Td><Table.Td>{fmtDateTime(r.created_at)}</Table.Td>
                  <Table.Td><StatusBadge status={r.status} />{r.error && <Text size="xs" c="red">{r.error}</Text>}</Table.Td>
                  <Table.Td><Progress value={(r.progress ?? (FINISHED.includes(r.status) ? 1 : 0)) * 100} animated={!FINISHED.includes(r.status)}
                    aria-label={`Run ${r.id} ${fmtPercent(r.progress ?? 0)}`} /></Table.Td>
                  <Table.Td>{r.model_version ?? '—'}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Card>
      <Card withBorder>
        <Group justify="space-between" mb="sm">
          <Title order={2} size="h4">Model metrics</Title>
          {modelList.length > 0 && (
            <Select aria-label="Model version" value={current?.version ?? null} onChange={setSelected} allowDeselect={false}
              data={modelList.map((m) => ({ value: m.version, label: `${m.version}${m.latest ? ' (in use)' : ''}` }))} w={200} />
          )}
        </Group>
        <ErrorBanner error={models.error} onRetry={() => void models.refetch()} />
        {models.data && modelList.length === 0 && <Text size="sm" c="dimmed">No trained model: the explainable heuristics decide.</Text>}
        {current && (
          <Stack>
            <Group gap="xs"><Badge>{current.version}</Badge>{current.latest && <Badge color="green">in use</Badge>}
              <Text size="sm" c="dimmed">trained {current.trained_at ?? current.saved_at ?? '—'}</Text></Group>
            {current.metrics ? <MetricsView metrics={current.metrics} /> : <Text size="sm" c="dimmed">No metrics were stored with this model.</Text>}
          </Stack>
        )}
      </Card>
    </Stack>
  );
}
