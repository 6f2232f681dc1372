// The intent score's components (value × weight = contribution) and the discrepancy table.

import { Progress, Table, Text } from '@mantine/core';
import type { ComponentScore, Discrepancy } from '../api/types';
import { fmtPercent } from './format';

const LABELS: Record<string, string> = {
  discrepancy: 'Unbilled items (discrepancy)',
  concealment: 'Concealment',
  bypass: 'Checkout bypass',
  duration: 'Duration',
};

/** Components as stored (`{value, weight, contribution}`); a bare number is treated as the value, weight 1. */
export function normaliseComponents(components: Record<string, unknown>): [string, ComponentScore][] {
  const out: [string, ComponentScore][] = [];
  for (const [name, raw] of Object.entries(components ?? {})) {
    if (typeof raw === 'number') out.push([name, { value: raw, weight: 1, contribution: raw }]);
    else if (Array.isArray(raw) && raw.length >= 3) out.push([name, { value: +raw[0], weight: +raw[1], contribution: +raw[2] }]);
    else if (raw && typeof raw === 'object' && 'value' in raw) {
      const c = raw as Partial<ComponentScore>;
      const value = Number(c.value ?? 0);
      const weight = Number(c.weight ?? 0);
      out.push([name, { value, weight, contribution: Number(c.contribution ?? value * weight) }]);
    }
  }
  return out.sort((a, b) => b[1].contribution - a[1].contribution);
}

export function ScoreBreakdown({ score, components }: { score: number; components: Record<string, unknown> }) {
  const rows = normaliseComponents(components);
  if (!rows.length) return <Text c="dimmed" size="sm">No score components were recorded.</Text>;
  const total = rows.reduce((s, [, c]) => s + c.contribution, 0);
  return (
    <Table aria-label="Score breakdown" data-testid="score-breakdown">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Component</Table.Th><Table.Th>Value</Table.Th><Table.Th>Weight</Table.Th><Table.Th>Contribution</Table.Th>
          <Table.Th w="30%">Share of score</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {rows.map(([name, c]) => (
          <Table.Tr key={name} data-component={name}>
            <Table.Td>{LABELS[name] ?? name}</Table.Td>
            <Table.Td>{c.value.toFixed(2)}</Table.Td>
            <Table.Td>{c.weight.toFixed(2)}</Table.Td>
            <Table.Td>{c.contribution.toFixed(3)}</Table.Td>
            <Table.Td>
              <Progress value={score > 0 ? (100 * c.contribution) / score : 0} aria-label={`${LABELS[name] ?? name}: ${fmtPercent(score > 0 ? c.contribution / score : 0)} of the score`} />
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
      <Table.Tfoot>
        <Table.Tr>
          <Table.Th>Score</Table.Th><Table.Th /><Table.Th /><Table.Th>{score.toFixed(3)}</Table.Th>
          <Table.Th>{Math.abs(total - score) > 0.005 ? <Text size="xs" c="dimmed">components sum to {total.toFixed(3)}</Text> : null}</Table.Th>
        </Table.Tr>
      </Table.Tfoot>
    </Table>
  );
}

/** SKU rows: picked up, billed, matched, missing from billing, extra in billing. */
export function discrepancyRows(report: Discrepancy): { sku: string; picked: number; billed: number; missing: number; extra: number }[] {
  const skus = new Set([
    ...Object.keys(report.picked ?? {}), ...Object.keys(report.billed ?? {}),
    ...Object.keys(report.missing_from_billing ?? {}), ...Object.keys(report.extra_in_billing ?? {}),
  ]);
  return [...skus].sort().map((sku) => ({
    sku,
    picked: report.picked?.[sku] ?? 0,
    billed: report.billed?.[sku] ?? 0,
    missing: report.missing_from_billing?.[sku] ?? Math.max(0, (report.picked?.[sku] ?? 0) - (report.billed?.[sku] ?? 0)),
    extra: report.extra_in_billing?.[sku] ?? Math.max(0, (report.billed?.[sku] ?? 0) - (report.picked?.[sku] ?? 0)),
  }));
}

export function DiscrepancyTable({ report }: { report: Discrepancy | null | undefined }) {
  if (!report) return <Text c="dimmed" size="sm">No point-of-sale comparison for this alert.</Text>;
  const rows = discrepancyRows(report);
  if (!rows.length) return <Text c="dimmed" size="sm">No product interaction was seen.</Text>;
  return (
    <Table aria-label="Picked up versus billed" data-testid="discrepancy-table">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>SKU</Table.Th><Table.Th>Picked up</Table.Th><Table.Th>Billed</Table.Th>
          <Table.Th>Not billed</Table.Th><Table.Th>Billed, not seen</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {rows.map((r) => (
          <Table.Tr key={r.sku} data-sku={r.sku} style={r.missing > 0 ? { background: 'var(--mantine-color-red-light)' } : undefined}>
            <Table.Td>{r.sku}</Table.Td><Table.Td>{r.picked}</Table.Td><Table.Td>{r.billed}</Table.Td>
            <Table.Td fw={r.missing > 0 ? 700 : undefined}>{r.missing}</Table.Td><Table.Td>{r.extra}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
      {report.match_rate != null && (
        <Table.Caption>Match rate {fmtPercent(report.match_rate)}{report.transaction_ids?.length ? ` · transactions ${report.transaction_ids.join(', ')}` : ''}</Table.Caption>
      )}
    </Table>
  );
}
