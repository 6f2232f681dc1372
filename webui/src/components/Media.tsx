// Media that needs the Bearer token: fetched as a Blob and shown through an object URL.

import { useEffect, useState } from 'react';
import { Center, Loader, Text } from '@mantine/core';
import { api, describeError } from '../api/client';

/** A blob URL for an API path (revoked when it changes or on unmount). */
export function useBlobUrl(path: string | null, refreshMs?: number): { url: string | null; error: unknown } {
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!refreshMs) return undefined;
    const id = setInterval(() => setTick((t) => t + 1), refreshMs);
    return () => clearInterval(id);
  }, [refreshMs]);
  useEffect(() => {
    if (!path) return undefined;
    const controller = new AbortController();
    let made: string | null = null;
    api
      .blob(path, undefined, controller.signal)
      .then((blob) => {
        made = URL.createObjectURL(blob);
        setUrl((old) => {
          if (old) URL.revokeObjectURL(old);
          return made;
        });
        setError(null);
      })
      .catch((err: unknown) => {
        if ((err as Error)?.name !== 'AbortError') setError(err);
      });
    return () => controller.abort();
  }, [path, tick]);
  useEffect(() => () => {
    setUrl((old) => {
      if (old) URL.revokeObjectURL(old);
      return null;
    });
  }, []);
  return { url, error };
}

/** An evidence clip player (`/events/{id}/clip`). */
export function ClipPlayer({ eventId, label }: { eventId: string; label?: string }) {
  const { url, error } = useBlobUrl(`/events/${encodeURIComponent(eventId)}/clip`);
  if (error) return <Text c="dimmed" size="sm">Clip unavailable: {describeError(error)}</Text>;
  if (!url) return <Center h={120}><Loader size="sm" aria-label="Loading clip" /></Center>;
  return (
    <video src={url} controls preload="metadata" style={{ width: '100%', borderRadius: 6, background: '#000' }}
      aria-label={label ?? `Evidence clip of event ${eventId}`} data-testid="clip-player" />
  );
}
