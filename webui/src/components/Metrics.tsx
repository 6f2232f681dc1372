// A trained model's evaluation: accuracy, F1, the confusion matrix and feature importance.

import { Group, Table, Text, useComputedColorScheme } from '@mantine/core';
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { TrainingMetrics } from '../api/types';
import { fmtPercent } from './format';

export function importanceRows(fi: TrainingMetrics['feature_importance']): { feature: string; importance: number }[] {
  if (!fi) return [];
  const rows = Array.isArray(fi) ? fi : Object.entries(fi).map(([feature, importance]) => ({ feature, importance }));
  return [...rows].sort((a, b) => b.importance - a.importance);
}

export function ConfusionMatrix({ matrix, labels }: { matrix: number[][]; labels: string[] }) {
  const max = Math.max(1, ...matrix.flat());
  return (
    <Table withTableBorder withColumnBorders aria-label="Confusion matrix (rows: true class, columns: predicted class)"
      data-testid="confusion-matrix" style={{ width: 'auto' }}>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>true \ predicted</Table.Th>
          {labels.map((l) => <Table.Th key={l}>{l}</Table.Th>)}
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {matrix.map((row, i) => (
          <Table.Tr key={labels[i] ?? i}>
            <Table.Th>{labels[i] ?? i}</Table.Th>
            {row.map((n, j) => (
              <Table.Td key={j} ta="center" style={{ background: `rgba(34, 139, 230, ${(0.85 * n) / max})`, fontWeight: i === j ? 700 : undefined }}>{n}</Table.Td>
            ))}
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

export function MetricsView({ metrics }: { metrics: TrainingMetrics }) {
  const scheme = useComputedColorScheme('dark');
  const matrix = metrics.confusion ?? metrics.confusion_matrix;
  const labels = metrics.labels ?? matrix?.map((_, i) => String(i)) ?? [];
  const importance = importanceRows(metrics.feature_importance).slice(0, 15);
  return (
    <>
      <Group gap="xl">
        <Text>Accuracy <b>{fmtPercent(metrics.accuracy, 1)}</b></Text>
        <Text>Macro F1 <b>{metrics.macro_f1 != null ? metrics.macro_f1.toFixed(3) : '—'}</b></Text>
        {metrics.n_test != null && <Text>Test windows <b>{metrics.n_test}</b></Text>}
      </Group>
      {matrix && <ConfusionMatrix matrix={matrix} labels={labels} />}
      {importance.length > 0 && (
        <div style={{ width: '100%', height: 30 + importance.length * 24 }} role="img"
          aria-label={`Feature importance${metrics.importance_method ? ` (${metrics.importance_method})` : ''}: ${importance.slice(0, 5).map((r) => r.feature).join(', ')} first`}>
          <ResponsiveContainer>
            <BarChart data={importance} layout="vertical" margin={{ left: 40 }}>
              <CartesianGrid strokeDasharray="3 3" opacity={0.3} />
              <XAxis type="number" stroke={scheme === 'dark' ? '#aaa' : '#555'} />
              <YAxis type="category" dataKey="feature" width={170} stroke={scheme === 'dark' ? '#aaa' : '#555'} fontSize={12} />
              <Tooltip />
              <Bar dataKey="importance" fill="var(--mantine-color-blue-6)" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </div>
      )}
    </>
  );
}
