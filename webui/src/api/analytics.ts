// Types and calls of the analytics, environments, export and playback API (see
// deployments/api/routes/analytics.py, exports.py, playback.py). Names follow the Python schemas.

import { api } from './client';
import type { EventPublic, ISODate } from './types';

export interface TimeRangeQuery {
  from: ISODate;
  to: ISODate;
}

export interface EnvironmentCamera {
  id: string;
  name: string;
  stored: boolean;
  zones: { name: string; kind: string | null }[];
  lines: string[];
}

export interface Environment {
  environment_id: string;
  id: string | null;
  name: string;
  timezone: string;
  cameras: EnvironmentCamera[];
  data_range: { from: ISODate; to: ISODate } | null;
  available_dates: string[];
  calibrated: boolean;
}

export interface OccupancyPoint {
  t: ISODate;
  mean: number;
  peak: number;
}

export interface Occupancy {
  site: string;
  zone: string;
  cameras: string[];
  range: TimeRangeQuery;
  bucket_s: number;
  series: OccupancyPoint[];
  peak: number;
  peak_at: ISODate | null;
  mean: number;
}

export interface HistogramBin {
  from_s: number;
  to_s: number | null;
  visits: number;
}

export interface Dwell {
  zone: string;
  cameras: string[];
  visits: number;
  bounces: number;
  bounce_s: number;
  mean_s: number | null;
  median_s: number | null;
  p90_s: number | null;
  histogram: HistogramBin[];
}

export interface Counts {
  site: string;
  zones: { camera_id: string; zone: string; entries: number; exits: number }[];
  lines: { camera_id: string; line: string; in: number; out: number }[];
  unique_people: number;
  people_identity: 'global_id' | 'track';
  hour_of_day: number[];
  timezone: string;
}

export interface Transition {
  from: string;
  to: string;
  count: number;
}

export interface Paths {
  transitions: Transition[];
  zones: string[];
}

export interface HeatmapGrid {
  /** The camera of an image grid; null for the floor-plan grid of the calibrated cameras. */
  camera_id: string | null;
  cameras: string[];
  space: 'image' | 'plan';
  grid_w: number;
  grid_h: number;
  cell_w: number;
  cell_h: number;
  unit: 'px' | 'm';
  resolution_wh: [number, number] | null;
  hours: number;
  max: number;
  total_person_s: number;
  cells: number[][];
}

export interface SummaryZone {
  camera_id: string;
  zone: string;
  visits: number;
  mean_occupancy: number;
  peak: number;
  mean_dwell_s: number | null;
}

export interface AnalyticsSummary {
  site: string;
  title: string;
  timezone: string;
  range: TimeRangeQuery;
  unique_people: number;
  visits: number;
  zone_visits: number;
  busiest_hour: number | null;
  busiest_zone: string | null;
  line_crossings: number;
  zones: SummaryZone[];
  cameras: string[];
}

export type ExportStatus = 'pending' | 'running' | 'done' | 'failed';
export type ReportFormat = 'pdf' | 'xlsx' | 'csv' | 'json';

export interface ExportJob {
  id: string;
  kind: 'tracking-data' | 'analytics-report' | 'video-with-overlays';
  format: string;
  status: ExportStatus;
  progress: number;
  stage: string | null;
  error: string | null;
  filename: string | null;
  size_bytes: number | null;
  download_url: string | null;
  created_at: ISODate;
}

export interface PlaybackZone {
  name: string;
  kind: string;
  polygon: [number, number][];
}

export interface PlaybackInfo {
  video_id: string;
  job_id: string;
  name: string;
  camera_id: string;
  fps: number;
  frame_count: number;
  duration_s: number;
  resolution_wh: [number, number];
  source_playable: boolean;
  playable_exports: { id: string; overlays: boolean; created_at: ISODate }[];
  zones: PlaybackZone[];
  lines: { name: string; start: [number, number]; end: [number, number] }[];
  events: EventPublic[];
  /** The camera's place on the floor plan (metres); null when it is not calibrated. */
  plan?: { extent_m: [number, number, number, number]; field_of_view: [number, number][] } | null;
}

export interface PlaybackTrack {
  track_id: number;
  global_id?: string | null;
  frames: number[];
  xyxy: [number, number, number, number][];
  /** Foot points on the floor plan at those frames (metres; null above the horizon), for a calibrated camera. */
  map_xy?: ([number, number] | null)[] | null;
}

export interface PlaybackTracks {
  video_id: string;
  fps: number;
  stride: number;
  tracks: PlaybackTrack[];
}

export interface MediaUrl {
  url: string;
  expires_at: ISODate;
  content_type: string;
}

/** The query of a site's range, with optional camera. */
function q(range: TimeRangeQuery, extra: Record<string, string | number | undefined> = {}) {
  return { from: range.from, to: range.to, ...extra };
}

export const analyticsApi = {
  environments: () => api.get<{ data: Environment[]; count: number }>('/environments'),
  occupancy: (site: string, zone: string, range: TimeRangeQuery, bucketS?: number) =>
    api.get<Occupancy>(`/analytics/zones/${encodeURIComponent(zone || '_view')}/occupancy`, q(range, { site_id: site, bucket_s: bucketS })),
  dwell: (site: string, range: TimeRangeQuery) => api.get<{ data: Dwell[] }>(`/analytics/dwell/${encodeURIComponent(site)}`, q(range)),
  counts: (site: string, range: TimeRangeQuery) => api.get<Counts>(`/analytics/counts/${encodeURIComponent(site)}`, q(range)),
  paths: (site: string, range: TimeRangeQuery) => api.get<Paths>(`/analytics/paths/${encodeURIComponent(site)}`, q(range)),
  summary: (site: string, range: TimeRangeQuery) =>
    api.get<AnalyticsSummary>(`/analytics/historical/${encodeURIComponent(site)}/summary`, q(range)),
  heatmap: (site: string, range: TimeRangeQuery) =>
    api.get<{ data: HeatmapGrid[]; floor_plan: boolean }>(`/analytics/heatmap/${encodeURIComponent(site)}`, q(range)),
  heatmapPng: (site: string, camera: string, range: TimeRangeQuery) =>
    api.blob(`/analytics/heatmap/${encodeURIComponent(site)}`, q(range, { camera_id: camera, format: 'png' })),
  report: (site: string, range: TimeRangeQuery, format: ReportFormat) =>
    api.post<ExportJob>('/analytics/reports/generate', { site_id: site, from: range.from, to: range.to, format }),
  videoExport: (body: { job_id: string; video: string; overlays?: boolean; trails?: boolean }) =>
    api.post<ExportJob>('/export/video-with-overlays', body),
  exportStatus: (id: string) => api.get<ExportJob>(`/export/jobs/${id}/status`),
  download: (job: ExportJob) => api.blob(job.download_url ?? `/export/jobs/${job.id}/download`),
  playback: (videoId: string) => api.get<PlaybackInfo>(`/playback/videos/${videoId}`),
  playbackTracks: (videoId: string) => api.get<PlaybackTracks>(`/playback/videos/${videoId}/tracks`),
  videoMediaUrl: (videoId: string) => api.get<MediaUrl>(`/playback/videos/${videoId}/media-url`),
  exportMediaUrl: (exportId: string) => api.get<MediaUrl>(`/playback/exports/${exportId}/media-url`),
};

/** `[from, to)` of whole local days: `from` at 00:00 of the first, `to` at 00:00 after the last. */
export function dayRange(firstDay: string, lastDay: string): TimeRangeQuery {
  const from = new Date(`${firstDay}T00:00:00`);
  const to = new Date(`${lastDay}T00:00:00`);
  to.setDate(to.getDate() + 1);
  return { from: from.toISOString(), to: to.toISOString() };
}

/** A local date as `YYYY-MM-DD`. */
export function isoDay(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
