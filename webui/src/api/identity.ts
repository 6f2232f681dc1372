// People across cameras, the floor plan and focus (see deployments/api/routes/persons.py and floorplan.py).

import { api } from './client';

export interface PersonSummary {
  global_id: string;
  site: string;
  job_id: string | null;
  first_detected: string;
  last_seen: string;
  tracking_duration: number;
  current_camera: string;
  image_url: string | null;
}

export interface PositionRecord {
  timestamp: string;
  t_s: number;
  camera: string;
  track_id: number;
  bbox: number[];
  map_coords: [number, number] | null;
}

export interface PersonDetails extends PersonSummary {
  cameras: string[];
  position_history: PositionRecord[];
  movement_metrics: { average_speed: number; total_distance: number; dwell_time: number; dwell_s_per_zone: Record<string, number> };
}

export interface Visit {
  camera: string;
  track_id: number;
  first_seen: string;
  last_seen: string;
  duration_s: number;
  verdict: string;
  score: number | null;
  events: { id: string; type: string; rule: string; zone: string | null; t_start_s: number }[];
  clips: { event_id: string; url: string }[];
}

export interface Journey {
  global_id: string;
  visits: Visit[];
}

export interface FocusState {
  focused_person_id: string | null;
  focus_start_time?: string | null;
  person_details?: PersonDetails | null;
}

export interface CameraView {
  camera_id: string;
  friendly_name: string | null;
  calibrated: boolean;
  reprojection_error_m: number | null;
  field_of_view: [number, number][];
  image_points: [number, number][];
  map_points: [number, number][];
}

export interface FloorPlan {
  site: string;
  floor_plan: { image?: string | null; metres_per_pixel?: number | null; width_m?: number | null; height_m?: number | null } | null;
  extent_m: [number, number, number, number];
  cameras: CameraView[];
}

export interface CalibrationResult {
  reprojection_error_m: number;
  max_error_m: number;
  field_of_view: [number, number][];
}

export const identityApi = {
  person: (id: string) => api.get<PersonDetails>(`/persons/${encodeURIComponent(id)}`),
  journey: (id: string) => api.get<Journey>(`/persons/${encodeURIComponent(id)}/journey`),
  focus: () => api.get<FocusState>('/tracking/focus'),
  setFocus: (globalId: string) => api.post<FocusState>('/tracking/focus', { global_id: globalId }),
  clearFocus: () => api.delete<void>('/tracking/focus'),
  floorPlan: (site?: string) => api.get<FloorPlan>('/floorplan', site ? { site } : undefined),
  checkCalibration: (imagePoints: [number, number][], mapPoints: [number, number][]) =>
    api.post<CalibrationResult>('/calibration/check', { image_points: imagePoints, map_points: mapPoints }),
};

/** A stable colour per global id (hue from a string hash), so a person keeps a colour on every view. */
export function colourOf(id: string): string {
  let h = 0;
  for (let i = 0; i < id.length; i += 1) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360}, 75%, 50%)`;
}
