// The app's one WebSocket (`/ws/stream`): events, camera health and alerts always; tracking and job
// channels while some component asks for them. A toast for each new alert; queries refreshed.

import { createContext, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { notifications } from '@mantine/notifications';
import { useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import type { StreamMessage } from '../api/types';
import { ReconnectingSocket, type SocketState } from './socket';

type Handler = (message: StreamMessage) => void;

interface Realtime {
  state: SocketState;
  subscribe: (handler: Handler) => () => void;
  /** Add interest in some cameras' tracking (`'*'` = all) and jobs; returns the release function. */
  want: (interest: { tracking?: string[] | '*'; jobs?: string[] }) => () => void;
}

const RealtimeContext = createContext<Realtime | null>(null);

export function RealtimeProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SocketState>('idle');
  const handlers = useRef(new Set<Handler>());
  const tracking = useRef(new Map<string, number>());
  const jobs = useRef(new Map<string, number>());
  const socketRef = useRef<ReconnectingSocket | null>(null);
  const queryClient = useQueryClient();
  const navigate = useNavigate();

  const value = useMemo<Realtime>(() => {
    const hello = () => ({
      op: 'subscribe',
      tracking: (tracking.current.get('*') ?? 0) > 0 ? '*' : [...tracking.current.keys()],
      jobs: [...jobs.current.keys()],
    });
    const bump = (map: Map<string, number>, keys: string[], by: number) => {
      for (const k of keys) {
        const n = (map.get(k) ?? 0) + by;
        if (n > 0) map.set(k, n);
        else map.delete(k);
      }
    };
    return {
      state: 'idle',
      subscribe: (handler) => {
        handlers.current.add(handler);
        return () => handlers.current.delete(handler);
      },
      want: ({ tracking: t, jobs: j }) => {
        const tKeys = t === '*' ? ['*'] : (t ?? []);
        bump(tracking.current, tKeys, 1);
        bump(jobs.current, j ?? [], 1);
        socketRef.current?.send(hello());
        return () => {
          bump(tracking.current, tKeys, -1);
          bump(jobs.current, j ?? [], -1);
          socketRef.current?.send(hello());
        };
      },
      _hello: hello,
    } as Realtime & { _hello: typeof hello };
  }, []);

  useEffect(() => {
    const socket = new ReconnectingSocket({
      url: () => (api.accessToken ? api.wsUrl('/ws/stream') : null),
      hello: (value as Realtime & { _hello: () => unknown })._hello,
      onState: setState,
      onAuthRefused: () => api.refresh(),
      onMessage: (raw) => {
        const message = raw as StreamMessage;
        if (message.kind === 'alert') {
          const a = message.alert;
          notifications.show({
            id: `alert-${a.id}`,
            color: a.severity === 'critical' || a.severity === 'high' ? 'red' : 'orange',
            title: `New ${a.severity} alert${a.camera_id ? ` on ${a.camera_id}` : ''}`,
            message: a.explanation || 'Review requested',
            autoClose: 8000,
            onClick: () => navigate(`/alerts/${a.id}`),
            style: { cursor: 'pointer' },
          });
          void queryClient.invalidateQueries({ queryKey: ['alerts'] });
          void queryClient.invalidateQueries({ queryKey: ['summary'] });
        } else if (message.kind === 'event') {
          void queryClient.invalidateQueries({ queryKey: ['summary'] });
        } else if (message.kind === 'camera_health') {
          void queryClient.invalidateQueries({ queryKey: ['camera-status'] });
        } else if (message.kind === 'job_done') {
          void queryClient.invalidateQueries({ queryKey: ['jobs'] });
        }
        handlers.current.forEach((h) => h(message));
      },
    });
    socketRef.current = socket;
    socket.start();
    return () => {
      socket.stop();
      socketRef.current = null;
    };
  }, [value, queryClient, navigate]);

  const ctx = useMemo(() => ({ ...value, state }), [value, state]);
  return <RealtimeContext.Provider value={ctx}>{children}</RealtimeContext.Provider>;
}

export function useRealtime(): Realtime {
  const ctx = useContext(RealtimeContext);
  if (!ctx) throw new Error('useRealtime outside RealtimeProvider');
  return ctx;
}

/** Call `handler` for every message of the shared socket while mounted. */
export function useStream(handler: Handler): void {
  const { subscribe } = useRealtime();
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => subscribe((m) => ref.current(m)), [subscribe]);
}

/** Ask the shared socket for these cameras' tracking (`'*'`: all) and these jobs' progress while mounted. */
export function useInterest(tracking: string[] | '*' | null, jobs: string[] = []): void {
  const { want } = useRealtime();
  const tKey = tracking === '*' ? '*' : (tracking ?? []).join(',');
  const jKey = jobs.join(',');
  useEffect(() => {
    if (!tKey && !jKey) return undefined;
    return want({ tracking: tKey === '*' ? '*' : tKey ? tKey.split(',') : [], jobs: jKey ? jKey.split(',') : [] });
  }, [want, tKey, jKey]);
}
