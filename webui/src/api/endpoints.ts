// Named page types and small typed calls used by several pages.

import { api } from './client';
import type {
  AlertDetailPublic, AlertPublic, AuditLogPublic, CameraPublic, EventPublic, JobPublic, ModelStage, ModelStageChange,
  Paged, SitePublic, TrainingLabel, UserPublic,
} from './types';

export type { Summary, SystemStatus } from './types';
export type AlertsPage = Paged<AlertPublic>;
export type EventsPage = Paged<EventPublic>;
export type JobsPage = Paged<JobPublic>;
export type CamerasPage = Paged<CameraPublic>;
export type SitesPage = Paged<SitePublic>;
export type UsersPage = Paged<UserPublic>;
export type AuditPage = Paged<AuditLogPublic>;

export const alertActions = {
  acknowledge: (id: string) => api.post<AlertDetailPublic>(`/alerts/${id}/acknowledge`),
  dismiss: (id: string, reason: string) => api.post<AlertDetailPublic>(`/alerts/${id}/dismiss`, { reason }),
  escalate: (id: string, reason: string) => api.post<AlertDetailPublic>(`/alerts/${id}/escalate`, { reason }),
  note: (id: string, text: string) => api.post<AlertDetailPublic>(`/alerts/${id}/notes`, { text }),
};

export type AlertActions = typeof alertActions;

/** Stage changes of the behaviour model (supervisor / admin; audited). */
export const modelStageActions = {
  promote: (version: string, stage: ModelStage) =>
    api.post<{ change: ModelStageChange; announced: boolean }>('/models/behaviour/promote', { version, stage }),
  rollback: (stage: ModelStage) => api.post<{ change: ModelStageChange; announced: boolean }>('/models/behaviour/rollback', { stage }),
};

export type ModelStageActions = typeof modelStageActions;

/** An operator's verdict on an event, stored as a training label. */
export const reviewEvent = (id: string, verdict: 'confirm' | 'reject', reason?: string) =>
  api.post<TrainingLabel>(`/events/${id}/review`, { verdict, reason });
