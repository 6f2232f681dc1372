import { fireEvent, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ApiError } from '../api/client';
import { renderUi } from '../test/render';
import { CalibrationEditor } from './CalibrationEditor';

const RECT = { left: 0, top: 0, width: 200, height: 100, right: 200, bottom: 100, x: 0, y: 0, toJSON: () => ({}) };

describe('CalibrationEditor', () => {
  beforeEach(() => {
    vi.spyOn(HTMLElement.prototype, 'getBoundingClientRect').mockReturnValue(RECT as DOMRect);
    vi.spyOn(SVGElement.prototype, 'getBoundingClientRect').mockReturnValue(RECT as DOMRect);
  });

  it('pairs a snapshot click with a plan click, checks the pairs and shows the reprojection error', async () => {
    const check = vi.fn().mockResolvedValue({ reprojection_error_m: 0.123, max_error_m: 0.2, field_of_view: [[0, 0], [1, 0], [1, 1]] });
    const onSave = vi.fn().mockResolvedValue(undefined);
    renderUi(<CalibrationEditor imageUrl={null} aspect={2} initial={null} extent={[0, 0, 10, 10]} onSave={onSave} canEdit check={check} />);
    const corners: [number, number][] = [[20, 90], [180, 90], [160, 40], [40, 40]];
    for (const [x, y] of corners) {
      fireEvent.click(screen.getByTestId('calibration-image'), { clientX: x, clientY: y });
      fireEvent.click(screen.getByTestId('floor-map'), { clientX: x, clientY: y });
    }
    expect(document.querySelectorAll('[data-pair]')).toHaveLength(4);
    await userEvent.click(screen.getByRole('button', { name: 'Check' }));
    expect(check).toHaveBeenCalledWith([[0.1, 0.9], [0.9, 0.9], [0.8, 0.4], [0.2, 0.4]], expect.any(Array));
    expect(check.mock.calls[0][1]).toHaveLength(4);
    expect(await screen.findByTestId('reprojection-error')).toHaveTextContent('Reprojection error 0.123 m RMS');
    await userEvent.click(screen.getByRole('button', { name: 'Save calibration' }));
    expect(onSave).toHaveBeenCalledWith(expect.objectContaining({ image_points: [[0.1, 0.9], [0.9, 0.9], [0.8, 0.4], [0.2, 0.4]] }));
  });

  it('shows what the server refused and needs 4 pairs to check', async () => {
    const check = vi.fn().mockRejectedValue(new ApiError(422, 'calibration: image_points are degenerate'));
    renderUi(<CalibrationEditor imageUrl={null} aspect={2} canEdit check={check} onSave={vi.fn()} extent={[0, 0, 10, 10]}
      initial={{ image_points: [[0, 1], [0.5, 1], [1, 1], [0.5, 0.5]], map_points: [[0, 8], [5, 8], [10, 8], [5, 0]] }} />);
    await userEvent.click(screen.getByRole('button', { name: 'Check' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('image_points are degenerate');
    await userEvent.click(screen.getByRole('button', { name: 'Clear' }));
    expect(screen.getByRole('button', { name: 'Check' })).toBeDisabled();
  });
});
