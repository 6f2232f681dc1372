import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ApiError } from '../api/client';
import type { AlertActions as Actions } from '../api/endpoints';
import type { AlertDetailPublic } from '../api/types';
import { renderUi } from '../test/render';
import { AlertActions } from './AlertActions';

function fakeActions(overrides: Partial<Actions> = {}): Actions {
  const detail = { id: 'a1', status: 'dismissed' } as AlertDetailPublic;
  return {
    acknowledge: vi.fn().mockResolvedValue({ ...detail, status: 'acknowledged' }),
    dismiss: vi.fn().mockResolvedValue(detail),
    escalate: vi.fn().mockResolvedValue({ ...detail, status: 'escalated' }),
    note: vi.fn().mockResolvedValue(detail),
    ...overrides,
  };
}

describe('AlertActions', () => {
  it('does not dismiss without a reason, then dismisses with the trimmed reason', async () => {
    const actions = fakeActions();
    const onChanged = vi.fn();
    renderUi(<AlertActions alertId="a1" status="pending" actions={actions} onChanged={onChanged} />);
    await userEvent.click(screen.getByRole('button', { name: 'Dismiss…' }));
    const dialog = await screen.findByRole('dialog');
    const confirm = within(dialog).getByRole('button', { name: 'Dismiss alert' });
    expect(confirm).toBeDisabled();
    await userEvent.type(within(dialog).getByLabelText(/reason/i), '   ');
    expect(confirm).toBeDisabled();
    expect(actions.dismiss).not.toHaveBeenCalled();
    await userEvent.type(within(dialog).getByLabelText(/reason/i), 'staff restocking the shelf ');
    expect(confirm).toBeEnabled();
    await userEvent.click(confirm);
    await waitFor(() => expect(actions.dismiss).toHaveBeenCalledWith('a1', 'staff restocking the shelf'));
    expect(onChanged).toHaveBeenCalledWith(expect.objectContaining({ status: 'dismissed' }));
  });

  it('escalation also requires a reason and shows a refusal in words', async () => {
    const actions = fakeActions({ escalate: vi.fn().mockRejectedValue(new ApiError(409, 'alert is dismissed: cannot escalate')) });
    renderUi(<AlertActions alertId="a1" status="acknowledged" actions={actions} onChanged={vi.fn()} />);
    await userEvent.click(screen.getByRole('button', { name: 'Escalate…' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByRole('button', { name: 'Escalate alert' })).toBeDisabled();
    await userEvent.type(within(dialog).getByLabelText(/reason/i), 'seen concealing twice');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Escalate alert' }));
    expect(await within(dialog).findByText('alert is dismissed: cannot escalate')).toBeInTheDocument();
    expect(actions.escalate).toHaveBeenCalledWith('a1', 'seen concealing twice');
  });

  it('only offers the transitions the alert status allows', () => {
    renderUi(<AlertActions alertId="a1" status="dismissed" actions={fakeActions()} onChanged={vi.fn()} />);
    expect(screen.getByRole('button', { name: 'Acknowledge' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Dismiss…' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Escalate…' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Add note' })).toBeEnabled();
  });

  it('acknowledges a pending alert and adds a note', async () => {
    const actions = fakeActions();
    renderUi(<AlertActions alertId="a1" status="pending" actions={actions} onChanged={vi.fn()} />);
    await userEvent.click(screen.getByRole('button', { name: 'Acknowledge' }));
    await waitFor(() => expect(actions.acknowledge).toHaveBeenCalledWith('a1'));
    await userEvent.click(screen.getByRole('button', { name: 'Add note' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Write a note first.');
    await userEvent.type(screen.getByLabelText('Add a note'), 'called the store manager');
    await userEvent.click(screen.getByRole('button', { name: 'Add note' }));
    await waitFor(() => expect(actions.note).toHaveBeenCalledWith('a1', 'called the store manager'));
  });

  it('tells a viewer they cannot review', () => {
    renderUi(<AlertActions alertId="a1" status="pending" actions={fakeActions()} onChanged={vi.fn()} allowed={false} />);
    expect(screen.queryByRole('button', { name: 'Acknowledge' })).toBeNull();
    expect(screen.getByText(/not review them/)).toBeInTheDocument();
  });
});
