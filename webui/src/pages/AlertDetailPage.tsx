import { useState } from 'react';
import { Anchor, Badge, Button, Card, Grid, Group, Loader, SimpleGrid, Stack, Text, Timeline, Title } from '@mantine/core';
import { useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router-dom';
import { useAuth } from '../api/auth';
import { api } from '../api/client';
import { alertActions, type AuditPage } from '../api/endpoints';
import type { AlertDetailPublic, EventPublic } from '../api/types';
import { AlertActions } from '../components/AlertActions';
import { SeverityBadge, StatusBadge } from '../components/Badges';
import { BehaviourTimeline, fromBehaviours, fromEvents } from '../components/BehaviourTimeline';
import { ErrorBanner } from '../components/ErrorBanner';
import { fmtDateTime } from '../components/format';
import { ClipPlayer } from '../components/Media';
import { DiscrepancyTable, ScoreBreakdown } from '../components/ScoreBreakdown';

interface HistoryItem {
  at: string;
  title: string;
  body?: string;
  key: string;
}

function LazyClip({ eventId, auto }: { eventId: string; auto: boolean }) {
  const [show, setShow] = useState(auto);
  return show ? <ClipPlayer eventId={eventId} /> : (
    <Button variant="default" size="xs" onClick={() => setShow(true)} aria-label={`Load the clip of event ${eventId}`}>Load clip</Button>
  );
}

export function AlertDetailPage() {
  const { alertId = '' } = useParams();
  const { can } = useAuth();
  const queryClient = useQueryClient();
  const alert = useQuery({ queryKey: ['alerts', 'detail', alertId], queryFn: () => api.get<AlertDetailPublic>(`/alerts/${alertId}`) });
  const eventIds = alert.data?.evidence?.event_ids ?? [];
  const events = useQueries({
    queries: eventIds.map((id) => ({ queryKey: ['events', id], queryFn: () => api.get<EventPublic>(`/events/${id}`) })),
  });
  const audit = useQuery({
    queryKey: ['alerts', 'audit', alertId],
    queryFn: () => api.get<AuditPage>('/audit', { resource_type: 'alert', resource_id: alertId, limit: 100 }),
    enabled: can('audit.read') && !!alert.data,
  });

  if (alert.isLoading) return <Loader aria-label="Loading alert" />;
  if (alert.error || !alert.data) {
    return (
      <Stack>
        <Title order={1}>Alert</Title>
        <ErrorBanner error={alert.error ?? new Error('alert not found')} onRetry={() => void alert.refetch()} />
        <Anchor component={Link} to="/alerts">Back to the alerts</Anchor>
      </Stack>
    );
  }
  const a = alert.data;
  const loaded = events.map((q) => q.data).filter((e): e is EventPublic => !!e);
  const hasClips = (a.evidence?.clip_keys?.length ?? 0) > 0;
  const behaviours = fromBehaviours(a.evidence?.behaviours);
  const history: HistoryItem[] = [
    { at: a.created_at, title: 'raised', body: `score ${a.score.toFixed(2)}, ${a.severity}`, key: 'raised' },
    ...a.history.map((h) => ({ at: h.at, key: `h-${h.id}`, title: `${h.action}: ${h.from_status} → ${h.to_status} by ${h.actor}`, body: h.reason ?? undefined })),
    ...a.notes.map((n) => ({ at: n.at, key: `n-${n.id}`, title: `note by ${n.author}`, body: n.text })),
  ].sort((x, y) => x.at.localeCompare(y.at));

  return (
    <Stack>
      <Group justify="space-between">
        <Group>
          <Title order={1}>Alert</Title>
          <SeverityBadge severity={a.severity} />
          <StatusBadge status={a.status} />
          {a.requires_human_review && <Badge variant="outline" color="gray">needs human review</Badge>}
        </Group>
        <Anchor component={Link} to="/alerts">Back to the queue</Anchor>
      </Group>
      <Text size="sm" c="dimmed">
        Raised {fmtDateTime(a.created_at)}{a.camera_id ? ` on ${a.camera_id}` : ''}{a.job_id ? ` in job ${a.job_id}` : ''}
        {a.track_id != null ? ` · person #${a.track_id}` : ''} · id {a.id}
      </Text>
      <Grid>
        <Grid.Col span={{ base: 12, lg: 7 }}>
          <Stack>
            <Card withBorder>
              <Title order={2} size="h4">Explanation</Title>
              <Text mt="xs" data-testid="alert-explanation">{a.explanation || 'No explanation was recorded.'}</Text>
              {a.reason && <Text mt="xs" size="sm"><b>Reason given:</b> {a.reason}</Text>}
            </Card>
            <Card withBorder>
              <Title order={2} size="h4" mb="xs">Score breakdown ({a.score.toFixed(2)})</Title>
              <ScoreBreakdown score={a.score} components={a.components} />
            </Card>
            <Card withBorder>
              <Title order={2} size="h4" mb="xs">Picked up versus billed</Title>
              <DiscrepancyTable report={a.evidence?.discrepancy} />
            </Card>
            <Card withBorder>
              <Title order={2} size="h4" mb="xs">Behaviour timeline</Title>
              <ErrorBanner error={events.find((q) => q.error)?.error} title="Some evidence events could not be loaded" />
              <BehaviourTimeline items={behaviours.length ? behaviours : fromEvents(loaded)} />
            </Card>
            <Card withBorder>
              <Title order={2} size="h4" mb="xs">Evidence clips</Title>
              {eventIds.length === 0 ? <Text size="sm" c="dimmed">No evidence clip is attached.</Text> : (
                <SimpleGrid cols={{ base: 1, md: 2 }}>
                  {eventIds.map((id, i) => (
                    <Stack key={id} gap={4}>
                      <Text size="xs" c="dimmed">{loaded.find((e) => e.id === id)?.type ?? 'event'} · {id}</Text>
                      <LazyClip eventId={id} auto={hasClips && i < (a.evidence.clip_keys?.length ?? 0) && i < 4} />
                    </Stack>
                  ))}
                </SimpleGrid>
              )}
            </Card>
          </Stack>
        </Grid.Col>
        <Grid.Col span={{ base: 12, lg: 5 }}>
          <Stack>
            <Card withBorder>
              <Title order={2} size="h4" mb="xs">Review</Title>
              <AlertActions alertId={a.id} status={a.status} actions={alertActions} allowed={can('alert.acknowledge')}
                onChanged={(detail) => {
                  queryClient.setQueryData(['alerts', 'detail', alertId], detail);
                  void queryClient.invalidateQueries({ queryKey: ['alerts'] });
                }} />
            </Card>
            <Card withBorder>
              <Title order={2} size="h4" mb="xs">History</Title>
              <Timeline active={history.length} bulletSize={14} lineWidth={2} aria-label="Alert history" data-testid="alert-history">
                {history.map((h) => (
                  <Timeline.Item key={h.key} title={h.title}>
                    {h.body && <Text size="sm">{h.body}</Text>}
                    <Text size="xs" c="dimmed">{fmtDateTime(h.at)}</Text>
                  </Timeline.Item>
                ))}
              </Timeline>
            </Card>
            {can('audit.read') && (
              <Card withBorder>
                <Title order={2} size="h4" mb="xs">Audit trail</Title>
                <ErrorBanner error={audit.error} />
                {audit.data?.data.length === 0 && <Text size="sm" c="dimmed">No audited request on this alert yet.</Text>}
                <Stack gap={4} data-testid="alert-audit">
                  {audit.data?.data.map((r) => (
                    <Text key={r.id} size="sm">
                      {fmtDateTime(r.at)} · <b>{r.action}</b> by {r.username ?? r.user_id ?? 'unknown'} · HTTP {r.status_code}
                    </Text>
                  ))}
                </Stack>
              </Card>
            )}
          </Stack>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}
