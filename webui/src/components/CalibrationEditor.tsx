import { useState, type MouseEvent } from 'react';
import { Alert, Button, Group, NumberInput, SegmentedControl, Stack, Table, Text } from '@mantine/core';
import { describeError } from '../api/client';
import { identityApi, type CalibrationResult } from '../api/identity';
import type { PointNorm } from '../api/types';
import { FloorMap } from './FloorMap';
import { pointFromClick } from './ZoneEditor';

export interface CalibrationValue { image_points: PointNorm[]; map_points: [number, number][] }

/**
 * Point pairs for a camera's calibration: click a floor point on the snapshot, then the same point on the plan;
 * "Check" fits them on the server and shows the reprojection error; "Save" stores them in the camera's config.
 */
export function CalibrationEditor({ imageUrl, aspect, initial, extent, onSave, canEdit, check: checkPairs = identityApi.checkCalibration }: {
  imageUrl: string | null;
  aspect: number;
  initial: CalibrationValue | null;
  extent: [number, number, number, number];
  onSave: (value: CalibrationValue | null) => Promise<void>;
  canEdit: boolean;
  check?: (imagePoints: [number, number][], mapPoints: [number, number][]) => Promise<CalibrationResult>; // the server's fit
}) {
  const [imagePts, setImagePts] = useState<PointNorm[]>(initial?.image_points ?? []);
  const [mapPts, setMapPts] = useState<[number, number][]>(initial?.map_points ?? []);
  const [target, setTarget] = useState<'image' | 'plan'>('image');
  const [result, setResult] = useState<CalibrationResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const pairs = Math.min(imagePts.length, mapPts.length);
  const box: [number, number, number, number] = [
    Math.min(extent[0], ...mapPts.map((p) => p[0])), Math.min(extent[1], ...mapPts.map((p) => p[1])),
    Math.max(extent[2], ...mapPts.map((p) => p[0])), Math.max(extent[3], ...mapPts.map((p) => p[1])),
  ];
  function onImage(e: MouseEvent<HTMLDivElement>) {
    if (!canEdit) return;
    setImagePts([...imagePts, pointFromClick(e.clientX, e.clientY, e.currentTarget.getBoundingClientRect())]);
    setResult(null);
    setTarget('plan');
  }
  function onPlan(xy: [number, number]) {
    if (!canEdit) return;
    setMapPts([...mapPts, xy]);
    setResult(null);
    setTarget('image');
  }
  async function check() {
    try {
      setResult(await checkPairs(imagePts.slice(0, pairs), mapPts.slice(0, pairs)));
      setError(null);
    } catch (err) {
      setResult(null);
      setError(describeError(err));
    }
  }
  async function save() {
    try {
      await onSave(pairs ? { image_points: imagePts.slice(0, pairs), map_points: mapPts.slice(0, pairs) } : null);
      setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  }
  const setMap = (i: number, axis: 0 | 1, v: number | string) => {
    const next = mapPts.map((p) => [...p] as [number, number]);
    if (next[i] && typeof v === 'number') next[i][axis] = v;
    setMapPts(next);
    setResult(null);
  };
  return (
    <Stack data-testid="calibration-editor">
      {canEdit && (
        <SegmentedControl aria-label="Next click goes on" value={target} onChange={(v) => setTarget(v as 'image' | 'plan')}
          data={[{ label: 'Click on the snapshot', value: 'image' }, { label: 'Click on the plan', value: 'plan' }]} />
      )}
      <Group grow align="flex-start">
        <div data-testid="calibration-image" role="button" tabIndex={0} aria-label="Camera snapshot: click a floor point"
          onClick={target === 'image' ? onImage : undefined} onKeyDown={() => undefined}
          style={{ position: 'relative', aspectRatio: `${aspect}`, background: '#222', borderRadius: 6, overflow: 'hidden',
            cursor: canEdit && target === 'image' ? 'crosshair' : 'default', opacity: target === 'image' ? 1 : 0.7 }}>
          {imageUrl && <img src={imageUrl} alt="Calibration view of the camera" style={{ width: '100%', height: '100%', display: 'block' }} />}
          {imagePts.map((p, i) => (
            <span key={i} data-image-mark={i} style={{ position: 'absolute', left: `${p[0] * 100}%`, top: `${p[1] * 100}%`, transform: 'translate(-50%, -50%)',
              color: 'orange', fontWeight: 700, fontSize: 14, pointerEvents: 'none' }}>●{i + 1}</span>
          ))}
        </div>
        <div style={{ opacity: target === 'plan' ? 1 : 0.7 }}>
          <FloorMap extent={box} cameras={result ? [{ camera_id: 'this', friendly_name: 'this camera', calibrated: true,
            reprojection_error_m: result.reprojection_error_m, field_of_view: result.field_of_view, image_points: [], map_points: [] }] : []}
            people={[]} marks={mapPts} onPick={canEdit && target === 'plan' ? onPlan : undefined} height={260} />
        </div>
      </Group>
      <Table aria-label="Calibration point pairs">
        <Table.Thead><Table.Tr><Table.Th>#</Table.Th><Table.Th>Image (0–1)</Table.Th><Table.Th>Plan x (m)</Table.Th><Table.Th>Plan y (m)</Table.Th></Table.Tr></Table.Thead>
        <Table.Tbody>
          {imagePts.map((p, i) => (
            <Table.Tr key={i} data-pair={i}>
              <Table.Td>{i + 1}</Table.Td>
              <Table.Td>{p[0].toFixed(3)}, {p[1].toFixed(3)}</Table.Td>
              <Table.Td><NumberInput hideControls size="xs" aria-label={`Plan x of point ${i + 1}`} value={mapPts[i]?.[0] ?? ''} disabled={!canEdit || !mapPts[i]}
                onChange={(v) => setMap(i, 0, v)} /></Table.Td>
              <Table.Td><NumberInput hideControls size="xs" aria-label={`Plan y of point ${i + 1}`} value={mapPts[i]?.[1] ?? ''} disabled={!canEdit || !mapPts[i]}
                onChange={(v) => setMap(i, 1, v)} /></Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {result && (
        <Alert color={result.reprojection_error_m < 0.25 ? 'green' : 'yellow'} variant="light" role="status" data-testid="reprojection-error">
          Reprojection error {result.reprojection_error_m.toFixed(3)} m RMS (worst point {result.max_error_m.toFixed(3)} m)
          {pairs === 4 ? ' — exact with 4 pairs; add a 5th to check them' : ''}
        </Alert>
      )}
      {error && <Alert color="red" variant="light" role="alert" title="Not accepted">{error}</Alert>}
      <Text size="xs" c="dimmed">{pairs} pair{pairs === 1 ? '' : 's'} (at least 4, not three on one line; points on the floor)</Text>
      {canEdit && (
        <Group>
          <Button variant="default" onClick={() => void check()} disabled={pairs < 4}>Check</Button>
          <Button onClick={() => void save()} disabled={pairs > 0 && pairs < 4}>Save calibration</Button>
          <Button variant="subtle" color="red" onClick={() => { setImagePts([]); setMapPts([]); setResult(null); }}>Clear</Button>
        </Group>
      )}
    </Stack>
  );
}
