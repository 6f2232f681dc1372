import { useEffect, useState, type FormEvent } from 'react';
import { Alert, Button, Card, Checkbox, Group, Loader, SegmentedControl, Select, Stack, Table, Text, TextInput, Title,
  useMantineColorScheme } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useAuth } from '../api/auth';
import { api, describeError } from '../api/client';
import { SEVERITIES, type NotificationPreferences, type Paged } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { fmtDateTime } from '../components/format';

const CHANNELS = [
  { value: 'in_app', label: 'In the app (toast)' },
  { value: 'email', label: 'Email' },
  { value: 'webhook', label: 'Webhooks' },
];

interface DeadLetter {
  id: string;
  alert_id: string;
  url: string;
  attempts: number;
  last_error: string | null;
  updated_at: string;
}

function Preferences() {
  const queryClient = useQueryClient();
  const prefs = useQuery({ queryKey: ['notifications', 'preferences'], queryFn: () => api.get<NotificationPreferences & { email?: string | null }>('/notifications/preferences') });
  const [channels, setChannels] = useState<string[]>([]);
  const [severity, setSeverity] = useState<string>('medium');
  const [email, setEmail] = useState('');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (prefs.data) {
      setChannels(prefs.data.channels);
      setSeverity(prefs.data.min_severity);
      setEmail(prefs.data.email ?? '');
    }
  }, [prefs.data]);
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      await api.put('/notifications/preferences', { channels, min_severity: severity, email: email.trim() || null });
      setError(null);
      notifications.show({ color: 'green', message: 'Notification preferences saved' });
      void queryClient.invalidateQueries({ queryKey: ['notifications'] });
    } catch (err) {
      setError(describeError(err));
    }
  }
  if (prefs.isLoading) return <Loader aria-label="Loading preferences" />;
  if (prefs.error) return <ErrorBanner error={prefs.error} onRetry={() => void prefs.refetch()} />;
  return (
    <form onSubmit={submit} aria-label="Notification preferences">
      <Stack>
        <Checkbox.Group label="Notify me by" value={channels} onChange={setChannels}>
          <Group mt="xs">{CHANNELS.map((c) => <Checkbox key={c.value} value={c.value} label={c.label} />)}</Group>
        </Checkbox.Group>
        <Select label="Least severe alert to notify" value={severity} onChange={(v) => setSeverity(v ?? 'medium')} data={SEVERITIES} allowDeselect={false} w={240} />
        <TextInput label="Email address (optional)" description="Defaults to your username when it is an address" type="email" value={email}
          onChange={(e) => setEmail(e.currentTarget.value)} w={360} />
        {error && <Alert color="red" role="alert" variant="light">{error}</Alert>}
        <Group><Button type="submit">Save preferences</Button></Group>
      </Stack>
    </form>
  );
}

function DeadLetters() {
  const letters = useQuery({ queryKey: ['notifications', 'dead'], queryFn: () => api.get<Paged<DeadLetter>>('/notifications/dead-letters', { limit: 50 }) });
  const [error, setError] = useState<string | null>(null);
  async function retry(id: string) {
    try {
      await api.post(`/notifications/dead-letters/${id}/retry`);
      void letters.refetch();
    } catch (err) {
      setError(describeError(err));
    }
  }
  return (
    <Stack>
      <ErrorBanner error={letters.error} />
      {error && <Alert color="red" role="alert" variant="light">{error}</Alert>}
      {letters.data?.data.length === 0 && <Text size="sm" c="dimmed">No failed webhook delivery.</Text>}
      {!!letters.data?.data.length && (
        <Table aria-label="Dead letters">
          <Table.Thead><Table.Tr><Table.Th>When</Table.Th><Table.Th>Alert</Table.Th><Table.Th>URL</Table.Th><Table.Th>Attempts</Table.Th><Table.Th>Error</Table.Th><Table.Th /></Table.Tr></Table.Thead>
          <Table.Tbody>
            {letters.data.data.map((d) => (
              <Table.Tr key={d.id}>
                <Table.Td>{fmtDateTime(d.updated_at)}</Table.Td><Table.Td>{d.alert_id}</Table.Td><Table.Td>{d.url}</Table.Td>
                <Table.Td>{d.attempts}</Table.Td><Table.Td>{d.last_error}</Table.Td>
                <Table.Td><Button size="xs" variant="default" onClick={() => void retry(d.id)} aria-label={`Retry delivery ${d.id}`}>Retry</Button></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}

export function SettingsPage() {
  const { can } = useAuth();
  const { colorScheme, setColorScheme } = useMantineColorScheme();
  return (
    <Stack>
      <Title order={1}>Settings</Title>
      <Card withBorder>
        <Title order={2} size="h4" mb="sm">Appearance</Title>
        <SegmentedControl aria-label="Colour theme" value={colorScheme} onChange={(v) => setColorScheme(v as 'light' | 'dark' | 'auto')}
          data={[{ label: 'Light', value: 'light' }, { label: 'Dark', value: 'dark' }, { label: 'As the system', value: 'auto' }]} />
      </Card>
      <Card withBorder>
        <Title order={2} size="h4" mb="sm">Alert notifications</Title>
        <Preferences />
      </Card>
      {can('notify.manage') && (
        <Card withBorder>
          <Title order={2} size="h4" mb="sm">Failed webhook deliveries</Title>
          <DeadLetters />
        </Card>
      )}
    </Stack>
  );
}
