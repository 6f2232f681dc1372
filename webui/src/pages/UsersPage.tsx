import { useState, type FormEvent } from 'react';
import { ActionIcon, Alert, Button, Card, Group, Loader, Modal, PasswordInput, Select, Stack, Switch, Table, TagsInput, Text, TextInput,
  Title } from '@mantine/core';
import { IconPencil, IconTrash } from '@tabler/icons-react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useAuth } from '../api/auth';
import { api, describeError } from '../api/client';
import type { UsersPage as UsersData } from '../api/endpoints';
import { USER_ROLES, type UserPublic, type UserRole } from '../api/types';
import { ErrorBanner } from '../components/ErrorBanner';
import { fmtDateTime } from '../components/format';

const ROLE_HELP: Record<UserRole, string> = {
  viewer: 'reads everything',
  operator: 'also reviews alerts, controls cameras, submits jobs, runs the POS',
  supervisor: 'also edits cameras and rules, cancels jobs, reads the audit log and users, trains models',
  admin: 'also manages users',
};

function UserForm({ user, onDone }: { user?: UserPublic; onDone: () => void }) {
  const [username, setUsername] = useState(user?.username ?? '');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<UserRole>(user?.role ?? 'viewer');
  const [groups, setGroups] = useState<string[]>(user?.camera_groups ?? []);
  const [allCameras, setAllCameras] = useState(user?.all_cameras ?? true);
  const [active, setActive] = useState(user?.is_active ?? true);
  const [error, setError] = useState<string | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      if (user) {
        await api.patch(`/users/${user.id}`, { role, camera_groups: groups, all_cameras: allCameras, is_active: active, ...(password ? { password } : {}) });
      } else {
        await api.post('/users', { username: username.trim(), password, role, camera_groups: groups, all_cameras: allCameras, is_active: active });
      }
      setError(null);
      onDone();
    } catch (err) {
      setError(describeError(err));
    }
  }
  return (
    <form onSubmit={submit} aria-label={user ? `Edit ${user.username}` : 'New user'}>
      <Stack>
        {!user && <TextInput label="Username" required value={username} onChange={(e) => setUsername(e.currentTarget.value)} />}
        <PasswordInput visibilityToggleButtonProps={{ 'aria-label': 'Show or hide the password' }} label={user ? 'New password (optional)' : 'Password'} description="At least 8 characters" required={!user}
          value={password} onChange={(e) => setPassword(e.currentTarget.value)} autoComplete="new-password" />
        <Select label="Role" value={role} onChange={(v) => setRole((v ?? 'viewer') as UserRole)} allowDeselect={false}
          data={USER_ROLES.map((r) => ({ value: r, label: `${r}: ${ROLE_HELP[r]}` }))} />
        <Switch label="Every camera" description="Admins always see every camera" checked={allCameras || role === 'admin'}
          disabled={role === 'admin'} onChange={(e) => setAllCameras(e.currentTarget.checked)} />
        <TagsInput label="Camera groups" description={allCameras ? 'Not used while "Every camera" is on' : 'Only these cameras; empty: none'}
          value={groups} onChange={setGroups} placeholder="Enter a group" />
        <Switch label="Active" checked={active} onChange={(e) => setActive(e.currentTarget.checked)} />
        {error && <Alert color="red" role="alert" variant="light">{error}</Alert>}
        <Group><Button type="submit">{user ? 'Save user' : 'Create user'}</Button></Group>
      </Stack>
    </form>
  );
}

export function UsersPage() {
  const { can, user: me } = useAuth();
  const queryClient = useQueryClient();
  const users = useQuery({ queryKey: ['users'], queryFn: () => api.get<UsersData>('/users', { limit: 1000 }), enabled: can('user.read') });
  const [editing, setEditing] = useState<UserPublic | null>(null);
  const [error, setError] = useState<string | null>(null);
  const manage = can('user.manage');
  const refresh = () => { setEditing(null); void queryClient.invalidateQueries({ queryKey: ['users'] }); };
  if (!can('user.read')) return <Stack><Title order={1}>Users and roles</Title><Text>Only supervisors and admins can see users.</Text></Stack>;

  async function remove(u: UserPublic) {
    try {
      await api.delete(`/users/${u.id}`);
      refresh();
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <Stack>
      <Title order={1}>Users and roles</Title>
      <ErrorBanner error={users.error} onRetry={() => void users.refetch()} />
      {error && <Alert color="red" role="alert" variant="light">{error}</Alert>}
      {users.isLoading && <Loader aria-label="Loading users" />}
      {users.data && (
        <Table.ScrollContainer minWidth={600}>
          <Table striped aria-label="Users">
            <Table.Thead><Table.Tr><Table.Th>User</Table.Th><Table.Th>Role</Table.Th><Table.Th>Camera groups</Table.Th><Table.Th>Active</Table.Th><Table.Th>Created</Table.Th><Table.Th /></Table.Tr></Table.Thead>
            <Table.Tbody>
              {users.data.data.map((u) => (
                <Table.Tr key={u.id}>
                  <Table.Td>{u.username}</Table.Td><Table.Td>{u.role}</Table.Td><Table.Td>{u.all_cameras || u.role === 'admin' ? 'all' : u.camera_groups.join(', ') || 'none'}</Table.Td>
                  <Table.Td>{u.is_active ? 'yes' : 'no'}</Table.Td><Table.Td>{fmtDateTime(u.created_at)}</Table.Td>
                  <Table.Td>
                    {manage && (
                      <Group gap={4} wrap="nowrap">
                        <ActionIcon variant="subtle" onClick={() => setEditing(u)} aria-label={`Edit ${u.username}`}><IconPencil size={16} /></ActionIcon>
                        <ActionIcon variant="subtle" color="red" onClick={() => void remove(u)} disabled={u.id === me?.id} aria-label={`Delete ${u.username}`}><IconTrash size={16} /></ActionIcon>
                      </Group>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {manage && <Card withBorder><Title order={2} size="h4" mb="sm">New user</Title><UserForm onDone={refresh} /></Card>}
      <Modal opened={editing !== null} onClose={() => setEditing(null)} title={editing ? `Edit ${editing.username}` : ''}>
        {editing && <UserForm key={editing.id} user={editing} onDone={refresh} />}
      </Modal>
    </Stack>
  );
}
