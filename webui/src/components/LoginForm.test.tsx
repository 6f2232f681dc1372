import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ApiError } from '../api/client';
import { LoginForm } from '../pages/LoginPage';
import { renderUi } from '../test/render';

describe('LoginForm', () => {
  it('shows the API refusal in words and does not call onSuccess', async () => {
    const onLogin = vi.fn().mockRejectedValue(new ApiError(401, 'incorrect username or password'));
    const onSuccess = vi.fn();
    renderUi(<LoginForm onLogin={onLogin} onSuccess={onSuccess} />);
    await userEvent.type(screen.getByLabelText(/username/i), 'admin');
    await userEvent.type(screen.getByLabelText(/^password/i), 'wrong');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('incorrect username or password');
    expect(onLogin).toHaveBeenCalledWith('admin', 'wrong');
    expect(onSuccess).not.toHaveBeenCalled();
  });

  it('explains a validation error (422 list) field by field', async () => {
    const onLogin = vi.fn().mockRejectedValue(new ApiError(422, [{ loc: ['body', 'password'], msg: 'String should have at least 1 character' }]));
    renderUi(<LoginForm onLogin={onLogin} />);
    await userEvent.type(screen.getByLabelText(/username/i), 'x');
    await userEvent.type(screen.getByLabelText(/^password/i), 'y');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('password: String should have at least 1 character');
  });

  it('says when the server cannot be reached', async () => {
    renderUi(<LoginForm onLogin={vi.fn().mockRejectedValue(new ApiError(0, null))} />);
    await userEvent.type(screen.getByLabelText(/username/i), 'a');
    await userEvent.type(screen.getByLabelText(/^password/i), 'b');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('the server could not be reached');
  });

  it('asks for both fields before calling the API, then signs in', async () => {
    const onLogin = vi.fn().mockResolvedValue(undefined);
    const onSuccess = vi.fn();
    renderUi(<LoginForm onLogin={onLogin} onSuccess={onSuccess} />);
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Enter your username and password.');
    expect(onLogin).not.toHaveBeenCalled();
    await userEvent.type(screen.getByLabelText(/username/i), ' admin ');
    await userEvent.type(screen.getByLabelText(/^password/i), 'secret-pass{Enter}');
    await waitFor(() => expect(onSuccess).toHaveBeenCalled());
    expect(onLogin).toHaveBeenCalledWith('admin', 'secret-pass');
  });
});
