import { ApiClient, ApiError, describeDetail } from './client';

function jsonResponse(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

function memoryStorage() {
  const data = new Map<string, string>();
  return { getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v), removeItem: (k: string) => void data.delete(k), data };
}

const PAIR = (n: number) => ({ access_token: `a${n}`, refresh_token: `r${n}`, token_type: 'bearer', expires_in: 900 });

describe('ApiClient', () => {
  it('refreshes once on 401 for concurrent requests, then retries them with the new token', async () => {
    const storage = memoryStorage();
    storage.setItem('witness.tokens', JSON.stringify(PAIR(1)));
    const seen: string[] = [];
    const fetchImpl = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
      const u = String(url);
      const auth = (init?.headers as Record<string, string> | undefined)?.Authorization;
      seen.push(`${u} ${auth ?? ''}`);
      if (u.endsWith('/auth/refresh')) return jsonResponse(200, PAIR(2));
      return auth === 'Bearer a2' ? jsonResponse(200, { ok: u }) : jsonResponse(401, { detail: 'token expired' });
    });
    const client = new ApiClient({ fetchImpl: fetchImpl as typeof fetch, storage });
    const [x, y] = await Promise.all([client.get<{ ok: string }>('/alerts'), client.get<{ ok: string }>('/events')]);
    expect(x.ok).toBe('/api/v1/alerts');
    expect(y.ok).toBe('/api/v1/events');
    expect(seen.filter((s) => s.includes('/auth/refresh'))).toHaveLength(1);
    expect(JSON.parse(storage.data.get('witness.tokens')!).access_token).toBe('a2');
  });

  it('signs out when the refresh token is refused', async () => {
    const storage = memoryStorage();
    storage.setItem('witness.tokens', JSON.stringify(PAIR(1)));
    const fetchImpl = vi.fn(async (url: RequestInfo | URL) =>
      String(url).endsWith('/auth/refresh') ? jsonResponse(401, { detail: 'invalid refresh token' }) : jsonResponse(401, { detail: 'token expired' }));
    const client = new ApiClient({ fetchImpl: fetchImpl as typeof fetch, storage });
    const lost = vi.fn();
    client.onTokens(lost);
    await expect(client.get('/alerts')).rejects.toMatchObject({ status: 401, message: 'token expired' });
    expect(client.signedIn).toBe(false);
    expect(lost).toHaveBeenCalledWith(null);
    expect(storage.data.has('witness.tokens')).toBe(false);
  });

  it('turns error bodies into words', async () => {
    const client = new ApiClient({ fetchImpl: (async () => jsonResponse(409, { detail: 'alert is dismissed: cannot acknowledge' })) as typeof fetch });
    await expect(client.post('/alerts/x/acknowledge')).rejects.toThrow('alert is dismissed: cannot acknowledge');
    const down = new ApiClient({ fetchImpl: (async () => { throw new TypeError('Failed to fetch'); }) as typeof fetch });
    await expect(down.get('/x')).rejects.toThrow('the server could not be reached');
    expect(describeDetail(422, [{ loc: ['body', 'polygon', 0], msg: 'too few points' }])).toBe('polygon → 0: too few points');
    expect(new ApiError(503, null).message).toBe('a service is unavailable');
  });

  it('builds WebSocket URLs with the access token', async () => {
    const client = new ApiClient({ fetchImpl: (async () => jsonResponse(200, PAIR(7))) as typeof fetch });
    await client.login('u', 'p');
    expect(client.wsUrl('/ws/stream', 'https://host:8443')).toBe('wss://host:8443/ws/stream?access_token=a7');
  });
});
