// Generate a report (PDF, Excel, CSV, JSON) as a job, follow its progress, then download the file.

import { useEffect, useRef, useState } from 'react';
import { Alert, Button, Group, Menu, Progress, Stack, Text } from '@mantine/core';
import { IconFileDownload } from '@tabler/icons-react';
import { describeError } from '../../api/client';
import type { ExportJob, ReportFormat } from '../../api/analytics';

export const REPORT_FORMATS: { format: ReportFormat; label: string }[] = [
  { format: 'pdf', label: 'PDF (charts and tables)' },
  { format: 'xlsx', label: 'Excel (one sheet per table)' },
  { format: 'csv', label: 'CSV (zip, one file per table)' },
  { format: 'json', label: 'JSON' },
];

export interface ReportActions {
  start: (format: ReportFormat) => Promise<ExportJob>;
  status: (id: string) => Promise<ExportJob>;
  download: (job: ExportJob) => Promise<Blob>;
  save?: (blob: Blob, filename: string) => void;
}

function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function ReportButton({ actions, pollMs = 1000 }: { actions: ReportActions; pollMs?: number }) {
  const [job, setJob] = useState<ExportJob | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => { if (timer.current) clearTimeout(timer.current); }, []);

  async function follow(id: string) {
    try {
      const current = await actions.status(id);
      setJob(current);
      if (current.status === 'done') {
        const blob = await actions.download(current);
        (actions.save ?? saveBlob)(blob, current.filename ?? 'report');
        setSaved(current.filename);
      } else if (current.status !== 'failed') {
        timer.current = setTimeout(() => void follow(id), pollMs);
      }
    } catch (err) {
      setError(err);
    }
  }

  async function start(format: ReportFormat) {
    setError(null);
    setSaved(null);
    try {
      const created = await actions.start(format);
      setJob(created);
      void follow(created.id);
    } catch (err) {
      setError(err);
    }
  }

  const running = job && (job.status === 'pending' || job.status === 'running');
  return (
    <Stack gap={6} data-testid="report-button">
      <Menu position="bottom-end">
        <Menu.Target>
          <Button leftSection={<IconFileDownload size={16} />} loading={!!running} aria-label="Generate a report">Report</Button>
        </Menu.Target>
        <Menu.Dropdown>
          {REPORT_FORMATS.map((f) => (
            <Menu.Item key={f.format} onClick={() => void start(f.format)} aria-label={`Generate a ${f.format.toUpperCase()} report`}>
              {f.label}
            </Menu.Item>
          ))}
        </Menu.Dropdown>
      </Menu>
      {running && (
        <Group gap="xs" wrap="nowrap" data-testid="report-progress">
          <Progress value={job.progress * 100} w={160} animated aria-label={`Report ${Math.round(job.progress * 100)} %`} />
          <Text size="xs" c="dimmed">{job.stage ?? job.status}</Text>
        </Group>
      )}
      {saved && <Text size="xs" c="green" data-testid="report-saved">Saved {saved}</Text>}
      {job?.status === 'failed' && <Alert color="red" variant="light" role="alert">Report failed: {job.error}</Alert>}
      {!!error && <Alert color="red" variant="light" role="alert">{describeError(error)}</Alert>}
    </Stack>
  );
}
