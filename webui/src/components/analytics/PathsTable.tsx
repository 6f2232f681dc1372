// The most common zone-to-zone transitions, with a bar of each one's share.

import { Progress, Table, Text } from '@mantine/core';
import type { Transition } from '../../api/analytics';

export function PathsTable({ transitions }: { transitions: Transition[] }) {
  if (!transitions.length) return <Text c="dimmed" size="sm" data-testid="paths-empty">No zone-to-zone movement in this range.</Text>;
  const top = Math.max(...transitions.map((t) => t.count));
  return (
    <Table aria-label="Most common paths between zones" data-testid="paths-table">
      <Table.Thead><Table.Tr><Table.Th>From</Table.Th><Table.Th>To</Table.Th><Table.Th>People</Table.Th><Table.Th w="40%">Share</Table.Th></Table.Tr></Table.Thead>
      <Table.Tbody>
        {transitions.map((t) => (
          <Table.Tr key={`${t.from}>${t.to}`} data-path={`${t.from}>${t.to}`}>
            <Table.Td>{t.from}</Table.Td><Table.Td>{t.to}</Table.Td><Table.Td>{t.count}</Table.Td>
            <Table.Td><Progress value={(100 * t.count) / top} aria-label={`${t.from} to ${t.to}: ${t.count}`} /></Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
