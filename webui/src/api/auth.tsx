// Who is signed in, and what their role allows (mirrors deployments/api/permissions.py).

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from './client';
import type { UserPublic, UserRole } from './types';

export type Permission =
  | 'read'
  | 'camera.control'
  | 'job.submit'
  | 'alert.acknowledge'
  | 'pos.operate'
  | 'camera.manage'
  | 'job.cancel'
  | 'audit.read'
  | 'user.read'
  | 'pos.manage'
  | 'model.train'
  | 'notify.manage'
  | 'user.manage';

const ADDED: Record<UserRole, Permission[]> = {
  viewer: ['read'],
  operator: ['camera.control', 'job.submit', 'alert.acknowledge', 'pos.operate'],
  supervisor: ['camera.manage', 'job.cancel', 'audit.read', 'user.read', 'pos.manage', 'model.train', 'notify.manage'],
  admin: ['user.manage'],
};
const ORDER: UserRole[] = ['viewer', 'operator', 'supervisor', 'admin'];

/** Whether `role` has `permission` (each role has its own and every lower role's). */
export function roleCan(role: UserRole | undefined, permission: Permission): boolean {
  if (!role) return false;
  if (role === 'admin') return true;
  return ORDER.slice(0, ORDER.indexOf(role) + 1).some((r) => ADDED[r].includes(permission));
}

interface Auth {
  signedIn: boolean;
  user: UserPublic | undefined;
  login: (username: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
  can: (permission: Permission) => boolean;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [signedIn, setSignedIn] = useState(api.signedIn);
  const queryClient = useQueryClient();
  useEffect(() => api.onTokens((t) => setSignedIn(t !== null)), []);
  useEffect(() => {
    if (!signedIn) queryClient.clear();
  }, [signedIn, queryClient]);
  const me = useQuery({
    queryKey: ['me'],
    queryFn: () => api.get<UserPublic>('/auth/me'),
    enabled: signedIn,
    staleTime: 60_000,
  });
  const login = useCallback(async (username: string, password: string) => {
    await api.login(username, password);
    setSignedIn(true);
  }, []);
  const logout = useCallback(async () => {
    await api.logout();
    setSignedIn(false);
  }, []);
  const value = useMemo<Auth>(
    () => ({
      signedIn,
      user: me.data,
      login,
      logout,
      can: (p) => roleCan(me.data?.role, p),
    }),
    [signedIn, me.data, login, logout],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth outside AuthProvider');
  return ctx;
}
