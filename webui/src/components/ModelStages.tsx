import { useState } from 'react';
import { Alert, Badge, Button, Group, Stack, Table, Text } from '@mantine/core';
import { describeError } from '../api/client';
import type { ModelStageActions } from '../api/endpoints';
import type { BehaviourModel, ModelComparison, ModelStage, ModelStages, TrainingLabels } from '../api/types';
import { fmtDateTime, fmtPercent } from './format';

const STAGES: ModelStage[] = ['production', 'staging'];
const signed = (x: number, digits = 3) => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;

/** Labels per class and per source, as badges (what operators' decisions gave). */
export function LabelCounts({ labels }: { labels: TrainingLabels }) {
  const row = (title: string, counts: Record<string, number>) => (
    <Group gap="xs" aria-label={title}>
      <Text size="sm" fw={500} w={80}>{title}</Text>
      {Object.keys(counts).length === 0 ? <Text size="sm" c="dimmed">none</Text>
        : Object.entries(counts).map(([k, n]) => <Badge key={k} variant="light">{k}: {n}</Badge>)}
    </Group>
  );
  return <Stack gap={4}>{row('By class', labels.by_class)}{row('By source', labels.by_source)}</Stack>;
}

/** The new version beside the baseline on the same held-out windows. */
export function ComparisonTable({ comparison, accuracy, macroF1 }: { comparison: ModelComparison; accuracy: number; macroF1: number }) {
  const base = comparison.baseline;
  const perClass = (base.per_class ?? {}) as Record<string, Record<string, number>>;
  return (
    <Table aria-label={`Comparison with ${comparison.baseline_version}`}>
      <Table.Thead><Table.Tr><Table.Th>Metric</Table.Th><Table.Th>This version</Table.Th><Table.Th>{comparison.baseline_version}</Table.Th><Table.Th>Δ</Table.Th></Table.Tr></Table.Thead>
      <Table.Tbody>
        <Table.Tr><Table.Td>accuracy</Table.Td><Table.Td>{fmtPercent(accuracy, 1)}</Table.Td><Table.Td>{fmtPercent(base.accuracy, 1)}</Table.Td><Table.Td>{signed(comparison.accuracy_delta)}</Table.Td></Table.Tr>
        <Table.Tr><Table.Td>macro F1</Table.Td><Table.Td>{macroF1.toFixed(3)}</Table.Td><Table.Td>{(base.macro_f1 ?? 0).toFixed(3)}</Table.Td><Table.Td>{signed(comparison.macro_f1_delta)}</Table.Td></Table.Tr>
        {Object.entries(comparison.per_class_delta).map(([cls, d]) => (
          <Table.Tr key={cls}>
            <Table.Td>{cls} recall</Table.Td>
            <Table.Td>{((perClass[cls]?.recall ?? 0) + d.recall).toFixed(2)}</Table.Td>
            <Table.Td>{(perClass[cls]?.recall ?? 0).toFixed(2)}</Table.Td>
            <Table.Td>{signed(d.recall, 2)}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

/** A version's lineage, the stages using it, and (for supervisors and admins) promote / rollback buttons. */
export function ModelStagePanel({ model, stages, canChange, actions, onChanged }: {
  model: BehaviourModel; stages: ModelStages | undefined; canChange: boolean; actions: ModelStageActions; onChanged: () => void;
}) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  async function run(key: string, call: () => Promise<unknown>) {
    setBusy(key);
    try {
      await call();
      setError(null);
      onChanged();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(null);
    }
  }
  const current = stages?.stages ?? { production: null, staging: null };
  return (
    <Stack gap="xs">
      <Group gap="xs">
        {STAGES.filter((s) => current[s] === model.version).map((s) => <Badge key={s} color={s === 'production' ? 'green' : 'yellow'}>{s}</Badge>)}
        <Text size="sm" c="dimmed">trained by {model.trained_by ?? '—'} · code {model.code_version ?? '—'} · dataset {model.dataset_hash ? model.dataset_hash.slice(0, 12) : '—'}</Text>
      </Group>
      {canChange && (
        <Group gap="xs">
          {STAGES.map((s) => (
            <Button key={s} size="xs" variant="light" disabled={current[s] === model.version} loading={busy === `promote-${s}`}
              onClick={() => void run(`promote-${s}`, () => actions.promote(model.version, s))}>Promote {model.version} to {s}</Button>
          ))}
          {STAGES.map((s) => (
            <Button key={`rb-${s}`} size="xs" variant="subtle" color="red" disabled={!current[s]} loading={busy === `rollback-${s}`}
              onClick={() => void run(`rollback-${s}`, () => actions.rollback(s))}>Roll back {s}</Button>
          ))}
        </Group>
      )}
      {error && <Alert color="red" role="alert" variant="light" title="Not changed">{error}</Alert>}
      {!!stages?.history.length && (
        <Text size="xs" c="dimmed">last change: {stages.history[0].stage} {stages.history[0].action} to {stages.history[0].version ?? 'none'} by {stages.history[0].actor}, {fmtDateTime(stages.history[0].at)}</Text>
      )}
    </Stack>
  );
}
