import { Badge } from '@mantine/core';
import type { AlertStatus, Severity } from '../api/types';

export const SEVERITY_COLOR: Record<string, string> = {
  none: 'gray',
  low: 'blue',
  medium: 'yellow',
  high: 'orange',
  critical: 'red',
};

export function SeverityBadge({ severity }: { severity: Severity | string }) {
  return (
    <Badge color={SEVERITY_COLOR[severity] ?? 'gray'} variant="filled" aria-label={`severity ${severity}`}>
      {severity}
    </Badge>
  );
}

const STATUS_COLOR: Record<string, string> = {
  pending: 'yellow',
  acknowledged: 'blue',
  dismissed: 'gray',
  escalated: 'red',
  running: 'blue',
  done: 'green',
  failed: 'red',
  partial: 'orange',
  cancelled: 'gray',
  streaming: 'green',
  starting: 'blue',
  reconnecting: 'orange',
  error: 'red',
  stopped: 'gray',
  open: 'green',
  completed: 'blue',
  voided: 'gray',
};

export function StatusBadge({ status }: { status: AlertStatus | string }) {
  return (
    <Badge color={STATUS_COLOR[status] ?? 'gray'} variant="light" aria-label={`status ${status}`}>
      {status}
    </Badge>
  );
}
