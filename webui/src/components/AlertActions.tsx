// Review actions on one alert: acknowledge; dismiss or escalate with a required reason; notes.

import { useState } from 'react';
import { Alert, Button, Group, Modal, Stack, Text, Textarea } from '@mantine/core';
import { describeError } from '../api/client';
import type { AlertActions as Actions } from '../api/endpoints';
import type { AlertDetailPublic, AlertStatus } from '../api/types';

type ReasonAction = 'dismiss' | 'escalate';
const OPEN: AlertStatus[] = ['pending', 'acknowledged'];

export interface AlertActionsProps {
  alertId: string;
  status: AlertStatus;
  actions: Actions;
  onChanged: (detail: AlertDetailPublic) => void;
  allowed?: boolean;
}

export function AlertActions({ alertId, status, actions, onChanged, allowed = true }: AlertActionsProps) {
  const [dialog, setDialog] = useState<ReasonAction | null>(null);
  const [reason, setReason] = useState('');
  const [note, setNote] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  async function run(name: string, call: () => Promise<AlertDetailPublic>): Promise<boolean> {
    setBusy(name);
    setError(null);
    try {
      onChanged(await call());
      return true;
    } catch (err) {
      setError(describeError(err));
      return false;
    } finally {
      setBusy(null);
    }
  }

  async function confirmReason() {
    if (!dialog) return;
    if (!reason.trim()) {
      setError(`A reason is required to ${dialog} an alert.`);
      return;
    }
    const ok = await run(dialog, () => actions[dialog](alertId, reason.trim()));
    if (ok) {
      setDialog(null);
      setReason('');
    }
  }

  async function addNote() {
    if (!note.trim()) {
      setError('Write a note first.');
      return;
    }
    if (await run('note', () => actions.note(alertId, note.trim()))) setNote('');
  }

  if (!allowed) return <Text size="sm" c="dimmed">Your role can read alerts but not review them.</Text>;
  const open = OPEN.includes(status);
  return (
    <Stack>
      {error && !dialog && <Alert color="red" role="alert" variant="light">{error}</Alert>}
      <Group>
        <Button onClick={() => void run('acknowledge', () => actions.acknowledge(alertId))} disabled={status !== 'pending'}
          loading={busy === 'acknowledge'}>Acknowledge</Button>
        <Button color="gray" onClick={() => { setDialog('dismiss'); setError(null); }} disabled={!open}>Dismiss…</Button>
        <Button color="red" onClick={() => { setDialog('escalate'); setError(null); }} disabled={!open}>Escalate…</Button>
      </Group>
      {!open && <Text size="sm" c="dimmed">This alert is {status}; only notes can be added.</Text>}
      <Textarea label="Add a note" placeholder="What you checked, who you called…" value={note} autosize minRows={2}
        onChange={(e) => setNote(e.currentTarget.value)} />
      <Group><Button variant="default" onClick={() => void addNote()} loading={busy === 'note'}>Add note</Button></Group>
      <Modal opened={dialog !== null} onClose={() => { setDialog(null); setError(null); }}
        title={dialog === 'dismiss' ? 'Dismiss alert' : 'Escalate alert'}>
        <Stack>
          <Text size="sm">
            {dialog === 'dismiss'
              ? 'Say why this is not a concern. Dismissals are kept as labelled examples for retraining.'
              : 'Say why this needs a manager or security.'}
          </Text>
          <Textarea label="Reason" required value={reason} onChange={(e) => setReason(e.currentTarget.value)} autosize minRows={3}
            data-autofocus error={error ?? undefined} />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => { setDialog(null); setError(null); }}>Cancel</Button>
            <Button color={dialog === 'escalate' ? 'red' : 'gray'} onClick={() => void confirmReason()} loading={busy === dialog}
              disabled={!reason.trim()}>
              {dialog === 'dismiss' ? 'Dismiss alert' : 'Escalate alert'}
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Stack>
  );
}
