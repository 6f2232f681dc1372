import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { TrainingLabel } from '../api/types';
import { renderUi } from '../test/render';
import { EventVerdict } from './EventVerdict';

describe('EventVerdict', () => {
  it('labels a behaviour event and shows the label the verdict gave', async () => {
    const review = vi.fn().mockResolvedValue({ id: 'l1', label: 'normal', source: 'event_rejected' } as TrainingLabel);
    renderUi(<EventVerdict eventId="e1" type="concealment" review={review} />);
    await userEvent.click(screen.getByRole('button', { name: 'Reject event e1' }));
    await waitFor(() => expect(review).toHaveBeenCalledWith('e1', 'reject'));
    expect(await screen.findByText('labelled normal')).toBeInTheDocument();
  });

  it('offers nothing for events that are not behaviours', () => {
    renderUi(<EventVerdict eventId="e2" type="dwell" review={vi.fn()} />);
    expect(screen.queryByRole('button')).toBeNull();
  });
});
