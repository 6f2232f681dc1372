// Types of the REST / WebSocket API under /api/v1 (hand-written from the FastAPI models; names follow
// the Python schemas: `*Public` is what a route returns, `*s Public` lists hold `data` + `count`).

export type ISODate = string;

export interface Paged<T> {
  data: T[];
  count: number;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
}

export type UserRole = 'admin' | 'supervisor' | 'operator' | 'viewer';
export const USER_ROLES: UserRole[] = ['viewer', 'operator', 'supervisor', 'admin'];
export const ROLE_RANK: Record<UserRole, number> = { viewer: 0, operator: 1, supervisor: 2, admin: 3 };

export interface UserPublic {
  id: string;
  username: string;
  role: UserRole;
  camera_groups: string[];
  all_cameras: boolean;
  is_active: boolean;
  created_at: ISODate;
}

export type Severity = 'none' | 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES: Severity[] = ['low', 'medium', 'high', 'critical'];
export type AlertStatus = 'pending' | 'acknowledged' | 'dismissed' | 'escalated';
export const ALERT_STATUSES: AlertStatus[] = ['pending', 'acknowledged', 'dismissed', 'escalated'];

/** One score component as stored: `{value, weight, contribution}` (0–1 each). */
export interface ComponentScore {
  value: number;
  weight: number;
  contribution: number;
}

/** Picked-up versus billed units by SKU (`domain.crosscheck.DiscrepancyReport`). */
export interface Discrepancy {
  track_id?: number | null;
  picked?: Record<string, number>;
  billed?: Record<string, number>;
  missing_from_billing?: Record<string, number>;
  extra_in_billing?: Record<string, number>;
  matched?: Record<string, number>;
  match_rate?: number;
  transaction_ids?: string[];
}

export interface AlertPublic {
  id: string;
  camera_id: string | null;
  job_id: string | null;
  video_id: string | null;
  track_id: number | null;
  severity: Severity;
  score: number;
  components: Record<string, ComponentScore | number | Record<string, unknown>>;
  explanation: string;
  evidence: {
    event_ids?: string[];
    clip_keys?: string[];
    discrepancy?: Discrepancy;
    [key: string]: unknown;
  };
  status: AlertStatus;
  reason: string | null;
  acknowledged_by: string | null;
  acknowledged_at: ISODate | null;
  closed_by: string | null;
  closed_at: ISODate | null;
  requires_human_review: boolean;
  origin?: 'intent' | 'rule';
  rule?: string | null;
  created_at: ISODate;
}

export interface AlertNotePublic {
  id: string;
  alert_id: string;
  author: string;
  text: string;
  at: ISODate;
}

export interface AlertHistoryPublic {
  id: string;
  alert_id: string;
  actor: string;
  action: string;
  from_status: AlertStatus;
  to_status: AlertStatus;
  reason: string | null;
  at: ISODate;
}

export interface AlertDetailPublic extends AlertPublic {
  notes: AlertNotePublic[];
  history: AlertHistoryPublic[];
}

export interface AlertStats {
  total: number;
  by_status: Record<string, number>;
  by_severity: Record<string, number>;
  mean_time_to_acknowledge_s: number | null;
}

export interface EventPublic {
  id: string;
  job_id: string | null;
  video_id: string | null;
  camera_id: string;
  type: string;
  rule: string;
  track_id: number | null;
  zone: string | null;
  t_start_s: number;
  t_end_s: number;
  frame_start: number;
  frame_end: number;
  confidence: number;
  payload: Record<string, unknown>;
  created_at: ISODate;
}

export interface Summary {
  since: ISODate;
  events: number;
  events_by_type: Record<string, number>;
  alerts: number;
  alerts_by_severity: Record<string, number>;
  recent_events: EventPublic[];
  recent_alerts: AlertPublic[];
}

export type JobStatus = 'pending' | 'running' | 'done' | 'failed' | 'partial' | 'cancelled';
export const FINISHED_JOB: JobStatus[] = ['done', 'failed', 'partial', 'cancelled'];

export interface JobPublic {
  id: string;
  status: JobStatus;
  created_at: ISODate;
  started_at: ISODate | null;
  finished_at: ISODate | null;
  frames_total: number;
  frames_done: number;
  progress: number;
  params: Record<string, unknown>;
  error: string | null;
  videos_total: number;
  videos_failed: number;
}

export interface VideoPublic {
  id: string;
  job_id: string;
  name: string;
  uri: string;
  camera_id: string | null;
  status: string;
  error: string | null;
  fps: number | null;
  frame_count: number | null;
  width: number | null;
  height: number | null;
  duration_s: number | null;
  people_count: number;
}

export interface JobDetailPublic extends JobPublic {
  videos: VideoPublic[];
}

export interface JobSubmitted {
  id: string;
  status: string;
  url: string;
  results: string;
  ws: string;
}

export interface ClipLink {
  event_id: string;
  key: string;
  url: string;
  t_start_s: number;
  t_end_s: number;
}

export interface VideoResult {
  video_id: string;
  name: string;
  uri: string;
  camera_id: string | null;
  status: string;
  error: string | null;
  people: number;
  tracks: number;
  events_by_type: Record<string, number>;
  clips: ClipLink[];
  alerts?: { id: string; severity: string; score: number; track_id: number | null; url: string }[];
}

export interface JobResults {
  job_id: string;
  status: string;
  videos: VideoResult[];
}

export interface SitePublic {
  id: string;
  name: string;
  friendly_name: string | null;
  timezone: string;
  created_at: ISODate;
  updated_at: ISODate;
}

export type ZoneKind = 'shelf' | 'checkout' | 'exit' | 'restricted' | 'queue' | 'generic';
export const ZONE_KINDS: ZoneKind[] = ['generic', 'shelf', 'checkout', 'exit', 'restricted', 'queue'];

/** A point `[x, y]` as fractions (0–1) of the frame's width and height. */
export type PointNorm = [number, number];

export interface ZoneConfig {
  friendly_name?: string | null;
  kind: ZoneKind;
  polygon: PointNorm[];
  skus?: string[];
  inertia_frames?: number;
}

export interface LineConfig {
  friendly_name?: string | null;
  start: PointNorm;
  end: PointNorm;
}

export type RuleConfig = { type: string; [key: string]: unknown };

export interface CameraConfig {
  friendly_name?: string | null;
  source?: string | null;
  match?: string[];
  fps?: number | null;
  zones?: Record<string, ZoneConfig>;
  lines?: Record<string, LineConfig>;
  rules?: Record<string, RuleConfig>;
  calibration?: { image_points: PointNorm[]; map_points: [number, number][]; max_reprojection_error_m?: number } | null;
  neighbours?: Record<string, { transit_s: [number, number] }>;
}

export interface CameraPublic {
  id: string;
  site_id: string;
  key: string;
  friendly_name: string | null;
  source: string | null;
  camera_group: string | null;
  enabled: boolean;
  config: CameraConfig;
  version: number;
  created_at: ISODate;
  updated_at: ISODate;
}

export interface CameraStatus {
  camera_id: string;
  state: string;
  running: boolean;
  fps_in?: number;
  fps_out?: number;
  lag_s?: number | null;
  last_frame_at?: number | null;
  reconnects?: number;
  dropped_frames?: number;
  error?: string | null;
  config_version?: number | null;
  [key: string]: unknown;
}

export interface SystemStatus {
  cameras: CameraStatus[];
  cluster: Record<string, unknown>;
  detector: Record<string, Record<string, unknown>>;
  events_total: number;
}

export interface AuditLogPublic {
  id: number;
  at: ISODate;
  user_id: string | null;
  username: string | null;
  method: string;
  path: string;
  action: string;
  resource_type: string;
  resource_id: string | null;
  status_code: number;
  detail: Record<string, unknown>;
}

// ------------------------------------------------------------------------------------ POS
export interface PosProduct {
  sku: string;
  name: string;
  price: string | number;
}

export interface PosLineItem {
  sku: string;
  quantity: number;
  unit_price: string | number;
}

export interface PosTerminal {
  id: string;
  camera_id: string | null;
  zone: string | null;
}

export interface PosSession {
  id: string;
  terminal_id: string;
  status: string;
  items: PosLineItem[];
  subtotal: string | number;
  t_start_s: number;
  t_end_s: number | null;
  transaction_id: string | null;
}

export interface PosTransaction {
  id: string;
  terminal_id: string;
  items: PosLineItem[];
  total: string | number;
  payment_method: string;
  t_start_s: number;
  t_end_s: number;
  camera_id: string | null;
  zone: string | null;
  source: string;
}

// ------------------------------------------------------------------------- notifications
export interface NotificationPreferences {
  channels: string[];
  min_severity: Severity;
  [key: string]: unknown;
}

// -------------------------------------------------------------------------------- training
/** A training run (`storage.models.TrainingRunPublic`); `report` is the test report once done. */
export interface TrainingRun {
  id: string;
  kind: string;
  status: 'pending' | 'running' | 'done' | 'failed' | string;
  created_at: ISODate;
  started_at: ISODate | null;
  finished_at: ISODate | null;
  created_by: string | null;
  data_dir: string;
  params: Record<string, unknown>;
  frames_done: number;
  frames_total: number;
  progress: number;
  version: string | null;
  report: TrainingMetrics | Record<string, never>;
  error: string | null;
}

/** `domain.behaviour_model` evaluation report (`confusion` rows = true class, columns = predicted). */
export interface TrainingMetrics {
  accuracy?: number;
  macro_f1?: number;
  labels?: string[];
  confusion?: number[][];
  confusion_matrix?: number[][];
  feature_importance?: Record<string, number> | { feature: string; importance: number }[];
  importance_method?: string;
  n_test?: number;
  n_train?: number;
  per_class?: Record<string, Record<string, number>>;
  [key: string]: unknown;
}

/** A stored model version's meta (`storage.model_registry.list_models`). */
export interface BehaviourModel {
  version: string;
  latest?: boolean;
  trained_at?: string;
  saved_at?: string;
  classes?: string[];
  metrics?: TrainingMetrics | null;
  params?: Record<string, unknown>;
  data?: Record<string, unknown>;
  /** Lineage: SHA-256 of the training windows, `git:<sha>` / `pkg:<version>`, who trained it. */
  dataset_hash?: string | null;
  code_version?: string | null;
  trained_by?: string | null;
  /** Stages using this version now (`production`, `staging`). */
  stages?: string[];
  /** The held-out comparison with the production version it was trained against. */
  comparison?: ModelComparison | null;
  [key: string]: unknown;
}

/** `pipelines.train_behaviour.compare_reports`: new minus baseline on the same held-out windows. */
export interface ModelComparison {
  baseline_version: string;
  baseline: TrainingMetrics;
  accuracy_delta: number;
  macro_f1_delta: number;
  per_class_delta: Record<string, { precision: number; recall: number }>;
}

export type ModelStage = 'production' | 'staging';

/** `storage.models.ModelStageChangePublic`. */
export interface ModelStageChange {
  id: number;
  kind: string;
  stage: ModelStage;
  version: string | null;
  previous_version: string | null;
  action: 'promote' | 'rollback' | string;
  actor: string;
  at: ISODate;
}

/** `GET /models/behaviour/stages`. */
export interface ModelStages {
  stages: Record<ModelStage, string | null>;
  history: ModelStageChange[];
}

export type LabelSource = 'dismissal' | 'escalation' | 'event_confirmed' | 'event_rejected' | 'manual';

/** `storage.models.TrainingLabelPublic`: one operator decision as a labelled example. */
export interface TrainingLabel {
  id: string;
  source: LabelSource;
  label: string;
  alert_id: string | null;
  event_id: string | null;
  camera_id: string | null;
  job_id: string | null;
  video_id: string | null;
  track_id: number | null;
  t_start_s: number | null;
  t_end_s: number | null;
  given_by: string;
  reason: string | null;
  created_at: ISODate;
}

/** `GET /training/labels`: a page of labels with counts over every matching label. */
export interface TrainingLabels extends Paged<TrainingLabel> {
  by_class: Record<string, number>;
  by_source: Record<string, number>;
}

// ------------------------------------------------------------------------------ WebSocket
export interface TrackMessage {
  track_id: number;
  bbox_xyxy: [number, number, number, number];
  confidence: number;
  keypoints: number[][] | null;
  global_id: number | string | null;
  map_coords?: [number, number] | null; // floor plan (m), calibrated cameras only
  tracking_duration?: number; // s since the track was first seen
  detection_time?: string; // ISO 8601, when the track was first seen
}

export interface TrackingUpdate {
  kind: 'tracking_update';
  camera_id: string;
  frame_index: number;
  t: number;
  tracks: TrackMessage[];
  person_count: number;
  resolution_wh?: [number, number];
}

export type StreamMessage =
  | TrackingUpdate
  | { kind: 'heartbeat'; t: number; dropped: number }
  | ({ kind: 'event'; id: string; clip_key: string | null } & Partial<EventPublic>)
  | ({ kind: 'camera_health' } & CameraStatus)
  | { kind: 'alert'; camera_id: string | null; alert: AlertPublic }
  | { kind: 'job_progress'; job_id: string; frames_done: number; frames_total: number; fps?: number; eta_s?: number }
  | { kind: 'job_done'; job_id: string; status: string; error?: string }
  | { kind: 'job_status'; job_id: string; status: string; progress: number }
  | { kind: 'training_progress'; run_id: string; frames_done: number; frames_total: number; fps?: number; eta_s?: number }
  | { kind: 'training_done'; run_id: string; status: string; version?: string; error?: string };

// ---- Bias-aware review reporting (`/reports/alert-review`): places and hours, never people.
export type ReviewGroupBy = 'camera' | 'zone' | 'hour';

export interface ReviewGroup {
  key: string;
  alerts: number;
  pending: number;
  acknowledged: number;
  dismissed: number;
  escalated: number;
  dismissal_rate: number | null;
  share: number;
}

export interface ReviewRates {
  by: ReviewGroupBy;
  total: number;
  groups: ReviewGroup[];
  note: string;
}
