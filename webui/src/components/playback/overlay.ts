// Boxes of stored tracks at one frame of a video: the stored (analysed) frames, linearly interpolated
// between two of them when they are at most `maxGap` frames apart (as the exports do), nothing elsewhere.

import type { PlaybackTrack } from '../../api/analytics';

export interface BoxAt {
  trackId: number;
  xyxy: [number, number, number, number];
}

/** The index of the last element of `frames` (increasing) that is <= `frame`, or -1. */
export function lastAtOrBefore(frames: number[], frame: number): number {
  let lo = 0;
  let hi = frames.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (frames[mid] <= frame) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

export function boxesAt(tracks: PlaybackTrack[], frame: number, maxGap: number): BoxAt[] {
  const out: BoxAt[] = [];
  for (const t of tracks) {
    const i = lastAtOrBefore(t.frames, frame);
    if (i < 0) continue;
    if (t.frames[i] === frame) {
      out.push({ trackId: t.track_id, xyxy: t.xyxy[i] });
      continue;
    }
    const j = i + 1;
    if (j >= t.frames.length || t.frames[j] - t.frames[i] > maxGap) continue;
    const w = (frame - t.frames[i]) / (t.frames[j] - t.frames[i]);
    const a = t.xyxy[i];
    const b = t.xyxy[j];
    out.push({ trackId: t.track_id, xyxy: [0, 1, 2, 3].map((k) => a[k] + w * (b[k] - a[k])) as BoxAt['xyxy'] });
  }
  return out;
}

export interface MapAt {
  trackId: number;
  globalId: string | null;
  trail: [number, number][]; // oldest first, ending at the position at the frame (metres)
}

/**
 * Floor-plan positions of stored tracks at one frame (the map replay): the foot point interpolated like
 * `boxesAt`, after the track's stored points of the last `trailFrames` frames.
 */
export function mapAt(tracks: PlaybackTrack[], frame: number, maxGap: number, trailFrames: number): MapAt[] {
  const out: MapAt[] = [];
  for (const t of tracks) {
    const xy = t.map_xy;
    if (!xy) continue;
    const i = lastAtOrBefore(t.frames, frame);
    if (i < 0) continue;
    let here: [number, number] | null;
    if (t.frames[i] === frame) {
      here = xy[i];
    } else {
      const j = i + 1;
      const a = xy[i];
      const b = j < t.frames.length ? xy[j] : null;
      if (!a || !b || t.frames[j] - t.frames[i] > maxGap) continue;
      const w = (frame - t.frames[i]) / (t.frames[j] - t.frames[i]);
      here = [a[0] + w * (b[0] - a[0]), a[1] + w * (b[1] - a[1])];
    }
    if (!here) continue;
    const trail: [number, number][] = [];
    for (let k = i; k >= 0 && frame - t.frames[k] <= trailFrames; k--) {
      const p = xy[k];
      if (p && t.frames[k] !== frame) trail.unshift(p);
    }
    trail.push(here);
    out.push({ trackId: t.track_id, globalId: t.global_id ?? null, trail });
  }
  return out;
}
