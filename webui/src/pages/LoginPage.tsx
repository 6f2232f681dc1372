import { useState, type FormEvent } from 'react';
import { Alert, Button, Center, Paper, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { Navigate, useLocation, useNavigate } from 'react-router-dom';
import { describeError } from '../api/client';
import { useAuth } from '../api/auth';
import { ThemeToggle } from '../components/Layout';

export interface LoginFormProps {
  onLogin: (username: string, password: string) => Promise<void>;
  onSuccess?: () => void;
}

/** Username + password; the API's refusal ("incorrect username or password", rate limit) shown in words. */
export function LoginForm({ onLogin, onSuccess }: LoginFormProps) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!username.trim() || !password) {
      setError('Enter your username and password.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await onLogin(username.trim(), password);
      onSuccess?.();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} aria-label="Sign in" noValidate>
      <Stack>
        <TextInput label="Username" name="username" autoComplete="username" value={username}
          onChange={(e) => setUsername(e.currentTarget.value)} required data-autofocus autoFocus />
        <PasswordInput visibilityToggleButtonProps={{ 'aria-label': 'Show or hide the password' }} label="Password" name="password" autoComplete="current-password" value={password}
          onChange={(e) => setPassword(e.currentTarget.value)} required />
        {error && (
          <Alert color="red" variant="light" role="alert" title="Sign-in failed">
            {error}
          </Alert>
        )}
        <Button type="submit" loading={busy}>Sign in</Button>
      </Stack>
    </form>
  );
}

export function LoginPage() {
  const { signedIn, login } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? '/';
  if (signedIn) return <Navigate to={from} replace />;
  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="md" p="xl" w={380} maw="100%">
        <Stack>
          <Stack gap={2}>
            <Title order={1} size="h2">Digital Witness</Title>
            <Text c="dimmed" size="sm">Operator console. An alert is a request for human review, never a verdict.</Text>
          </Stack>
          <LoginForm onLogin={login} onSuccess={() => navigate(from, { replace: true })} />
          <Center><ThemeToggle /></Center>
        </Stack>
      </Paper>
    </Center>
  );
}
