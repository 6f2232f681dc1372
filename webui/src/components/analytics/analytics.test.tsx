import { fireEvent, screen, waitFor } from '@testing-library/react';
import { renderUi } from '../../test/render';
import type { ExportJob, HeatmapGrid as Grid } from '../../api/analytics';
import { dayRange, isoDay } from '../../api/analytics';
import { defaultDays } from '../../pages/AnalyticsLandingPage';
import { bucketText } from '../../pages/AnalyticsPage';
import { binLabel, DwellHistogram, OccupancyChart } from './charts';
import { heatColor, HeatmapGrid } from './HeatmapGrid';
import { PathsTable } from './PathsTable';
import { ReportButton } from './ReportButton';

function job(status: ExportJob['status'], progress: number, extra: Partial<ExportJob> = {}): ExportJob {
  return { id: 'x1', kind: 'analytics-report', format: 'pdf', status, progress, stage: status === 'running' ? 'occupancy' : null,
    error: null, filename: 'report-shop.pdf', size_bytes: 10, download_url: status === 'done' ? '/api/v1/export/jobs/x1/download' : null,
    created_at: '2026-03-02T10:00:00Z', ...extra };
}

describe('occupancy and dwell charts', () => {
  it('says so when nobody was there', () => {
    renderUi(<OccupancyChart series={[]} bucketS={60} label="Occupancy of aisle" />);
    expect(screen.getByTestId('occupancy-empty')).toHaveTextContent('No one was seen in this range.');
  });

  it('names the peak of a series', () => {
    renderUi(<OccupancyChart series={[{ t: '2026-03-02T10:00:00Z', mean: 1.5, peak: 2 }, { t: '2026-03-02T10:01:00Z', mean: 0.2, peak: 1 }]}
      bucketS={60} label="Occupancy of aisle" />);
    expect(screen.getByRole('img', { name: 'Occupancy of aisle: 2 buckets, peak 2 people' })).toHaveAttribute('data-points', '2');
  });

  it('labels dwell bins, the last one open-ended', () => {
    expect([binLabel({ from_s: 0, to_s: 5, visits: 1 }), binLabel({ from_s: 60, to_s: 120, visits: 0 }), binLabel({ from_s: 600, to_s: null, visits: 2 })])
      .toEqual(['0–5 s', '60–2 min', '≥ 10 min']);
    renderUi(<DwellHistogram bins={[{ from_s: 0, to_s: 5, visits: 1 }, { from_s: 5, to_s: null, visits: 3 }]} label="Dwell in aisle" />);
    expect(screen.getByRole('img')).toHaveAccessibleName('Dwell in aisle: 0–5 s 1, ≥ 5 s 3');
  });
});

describe('the heatmap grid', () => {
  const grid: Grid = { camera_id: 'shop.cam', cameras: ['shop.cam'], space: 'image', grid_w: 2, grid_h: 2, cell_w: 50, cell_h: 50, unit: 'px',
    resolution_wh: [100, 100], hours: 1, max: 10, total_person_s: 12, cells: [[10, 0], [0, 2]] };

  it('colours the occupied cells only, the hottest red', () => {
    renderUi(<HeatmapGrid grid={grid} />);
    const svg = screen.getByTestId('heatmap-grid');
    expect(svg).toHaveAttribute('data-hot-cells', '2');
    expect(svg).toHaveAccessibleName('Heatmap of shop.cam: 2 occupied cells of 50×50 px, 12 person-seconds');
    expect(heatColor(10, 10)).toBe('hsla(0, 90%, 50%, 0.9)');
    expect(heatColor(0, 10)).toBe('transparent');
    expect(heatColor(1, 0)).toBe('transparent');
  });
});

describe('the paths table', () => {
  it('lists transitions with their share', () => {
    renderUi(<PathsTable transitions={[{ from: 'aisle', to: 'till', count: 4 }, { from: 'till', to: 'doors', count: 1 }]} />);
    expect(screen.getAllByRole('row')).toHaveLength(3);
    expect(screen.getByRole('progressbar', { name: 'till to doors: 1' })).toHaveAttribute('aria-valuenow', '25');
  });

  it('says when nobody moved between zones', () => {
    renderUi(<PathsTable transitions={[]} />);
    expect(screen.getByTestId('paths-empty')).toBeInTheDocument();
  });
});

describe('the report button', () => {
  it('starts a job, follows its progress and saves the file', async () => {
    const statuses = [job('running', 0.4), job('done', 1)];
    const save = vi.fn();
    const actions = {
      start: vi.fn().mockResolvedValue(job('pending', 0)),
      status: vi.fn().mockImplementation(() => Promise.resolve(statuses.shift() ?? job('done', 1))),
      download: vi.fn().mockResolvedValue(new Blob(['%PDF'])),
      save,
    };
    renderUi(<ReportButton actions={actions} pollMs={5} />);
    fireEvent.click(screen.getByRole('button', { name: 'Generate a report' }));
    fireEvent.click(await screen.findByRole('menuitem', { name: 'Generate a PDF report' }));
    await waitFor(() => expect(save).toHaveBeenCalledWith(expect.any(Blob), 'report-shop.pdf'));
    expect(actions.start).toHaveBeenCalledWith('pdf');
    expect(actions.status).toHaveBeenCalledTimes(2);
    expect(screen.getByTestId('report-saved')).toHaveTextContent('Saved report-shop.pdf');
  });

  it('shows why a report failed', async () => {
    const actions = {
      start: vi.fn().mockResolvedValue(job('pending', 0)),
      status: vi.fn().mockResolvedValue(job('failed', 0.3, { error: 'site shop: no camera' })),
      download: vi.fn(),
    };
    renderUi(<ReportButton actions={actions} pollMs={5} />);
    fireEvent.click(screen.getByRole('button', { name: 'Generate a report' }));
    fireEvent.click(await screen.findByRole('menuitem', { name: 'Generate a JSON report' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Report failed: site shop: no camera');
    expect(actions.download).not.toHaveBeenCalled();
  });
});

describe('ranges', () => {
  it('turns local days into a half-open range of whole days', () => {
    const r = dayRange('2026-03-02', '2026-03-03');
    expect(new Date(r.to).getTime() - new Date(r.from).getTime()).toBe(2 * 86_400_000);
    expect(isoDay(new Date(r.from))).toBe('2026-03-02');
  });

  it('names bucket lengths', () => {
    expect([bucketText(3600), bucketText(300), bucketText(86400), bucketText(5)]).toEqual(['1 h', '5 min', '1 d', '5 s']);
  });

  it('defaults the landing range to the week ending on the newest day with data', () => {
    const env = { environment_id: 'shop', id: null, name: 'Shop', timezone: 'UTC', cameras: [], data_range: null,
      available_dates: ['2026-03-09', '2026-03-01'], calibrated: false };
    expect(defaultDays(env)).toEqual({ first: '2026-03-03', last: '2026-03-09' });
  });
});
