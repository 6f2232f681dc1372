// The HTTP client of the API: Bearer tokens kept in localStorage, one refresh (rotation) on a 401
// shared by every request waiting on it, and errors turned into words from the API's `detail`.

import type { TokenPair } from './types';

export const API_PREFIX = '/api/v1';
const TOKENS_KEY = 'witness.tokens';

/** An HTTP error from the API, with the `detail` the server sent put into words. */
export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;

  constructor(status: number, detail: unknown, fallback?: string) {
    super(describeDetail(status, detail, fallback));
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
  }
}

interface ValidationItem {
  loc?: (string | number)[];
  msg?: string;
}

/** FastAPI's `detail`: a string, or a list of validation errors `{loc, msg}` → one readable sentence. */
export function describeDetail(status: number, detail: unknown, fallback?: string): string {
  if (typeof detail === 'string' && detail.trim()) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail
      .map((item: ValidationItem) => {
        const loc = (item.loc ?? []).filter((p) => p !== 'body' && p !== 'query' && p !== 'path');
        return loc.length ? `${loc.join(' → ')}: ${item.msg ?? 'invalid'}` : (item.msg ?? 'invalid value');
      })
      .join('; ');
  }
  if (fallback) return fallback;
  const words: Record<number, string> = {
    0: 'the server could not be reached',
    400: 'bad request',
    401: 'not signed in',
    403: 'you are not allowed to do this',
    404: 'not found',
    409: 'conflict with the current state',
    413: 'the upload is too large',
    422: 'invalid input',
    429: 'too many requests; wait a moment',
    500: 'server error',
    502: 'the server is unreachable (bad gateway)',
    503: 'a service is unavailable',
  };
  return words[status] ?? `request failed (HTTP ${status})`;
}

/** Any thrown value as a sentence for the user. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) {
    if (error.name === 'TypeError' && /fetch|network/i.test(error.message)) return 'the server could not be reached';
    return error.message || 'unexpected error';
  }
  return String(error ?? 'unexpected error');
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | null | undefined>;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Return the raw Response (for blobs). */
  raw?: boolean;
}

export interface ClientOptions {
  baseUrl?: string;
  fetchImpl?: typeof fetch;
  storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
}

type Listener = (tokens: TokenPair | null) => void;

export function buildQuery(query?: RequestOptions['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** The API client. One instance per app (`api` below); tests make their own with a fake fetch. */
export class ApiClient {
  readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly storage?: ClientOptions['storage'];
  private tokens: TokenPair | null = null;
  private refreshing: Promise<boolean> | null = null;
  private listeners = new Set<Listener>();

  constructor(options: ClientOptions = {}) {
    this.baseUrl = options.baseUrl ?? '';
    this.fetchImpl = options.fetchImpl ?? ((...args) => fetch(...args));
    this.storage = options.storage;
    try {
      const saved = this.storage?.getItem(TOKENS_KEY);
      this.tokens = saved ? (JSON.parse(saved) as TokenPair) : null;
    } catch {
      this.tokens = null;
    }
  }

  get accessToken(): string | null {
    return this.tokens?.access_token ?? null;
  }

  get signedIn(): boolean {
    return this.tokens !== null;
  }

  /** Called with the new tokens on login / refresh, and with `null` when the session ends. */
  onTokens(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setTokens(tokens: TokenPair | null): void {
    this.tokens = tokens;
    if (tokens) this.storage?.setItem(TOKENS_KEY, JSON.stringify(tokens));
    else this.storage?.removeItem(TOKENS_KEY);
    this.listeners.forEach((l) => l(tokens));
  }

  url(path: string, query?: RequestOptions['query']): string {
    const full = path.startsWith('/api/') || path.startsWith('/ws/') ? path : `${API_PREFIX}${path}`;
    return `${this.baseUrl}${full}${buildQuery(query)}`;
  }

  /** Sign in; throws `ApiError` (401 "incorrect username or password", 429, ...). */
  async login(username: string, password: string): Promise<void> {
    const response = await this.send('POST', '/auth/login', { json: { username, password } }, false);
    this.setTokens((await response.json()) as TokenPair);
  }

  /** Revoke both tokens on the server (best effort) and forget them. */
  async logout(): Promise<void> {
    const refresh = this.tokens?.refresh_token;
    try {
      if (this.tokens) await this.send('POST', '/auth/logout', { json: { refresh_token: refresh } }, false);
    } catch {
      // the session ends locally whatever the server says
    } finally {
      this.setTokens(null);
    }
  }

  /** Rotate the refresh token; concurrent callers share one request. Returns whether it worked. */
  refresh(): Promise<boolean> {
    if (!this.tokens) return Promise.resolve(false);
    if (!this.refreshing) {
      const refreshToken = this.tokens.refresh_token;
      this.refreshing = (async () => {
        try {
          const response = await this.fetchImpl(this.url('/auth/refresh'), {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ refresh_token: refreshToken }),
          });
          if (!response.ok) {
            if (response.status === 401 || response.status === 403) this.setTokens(null);
            return false;
          }
          this.setTokens((await response.json()) as TokenPair);
          return true;
        } catch {
          return false;
        } finally {
          this.refreshing = null;
        }
      })();
    }
    return this.refreshing;
  }

  private async send(method: string, path: string, options: RequestOptions, retry: boolean): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json', ...(options.headers ?? {}) };
    let body = options.body;
    if (options.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    const token = this.accessToken;
    if (token) headers.Authorization = `Bearer ${token}`;
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path, options.query), { method, headers, body, signal: options.signal });
    } catch (err) {
      if ((err as Error)?.name === 'AbortError') throw err;
      throw new ApiError(0, null);
    }
    if (response.status === 401 && retry && token && (await this.refresh())) {
      return this.send(method, path, options, false);
    }
    if (!response.ok) {
      let detail: unknown = null;
      try {
        detail = ((await response.json()) as { detail?: unknown }).detail;
      } catch {
        detail = null;
      }
      if (response.status === 401 && retry) this.setTokens(null);
      throw new ApiError(response.status, detail);
    }
    return response;
  }

  /** A JSON request; resolves to the parsed body (`undefined` for 204). */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options, true);
    if (response.status === 204) return undefined as T;
    const type = response.headers.get('content-type') ?? '';
    return (type.includes('json') ? await response.json() : await response.text()) as T;
  }

  get<T>(path: string, query?: RequestOptions['query'], signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, { query, signal });
  }

  post<T>(path: string, json?: unknown): Promise<T> {
    return this.request<T>('POST', path, { json });
  }

  put<T>(path: string, json?: unknown): Promise<T> {
    return this.request<T>('PUT', path, { json });
  }

  patch<T>(path: string, json?: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { json });
  }

  delete<T = void>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /** A binary resource (frame, clip) that needs the token, as a Blob. */
  async blob(path: string, query?: RequestOptions['query'], signal?: AbortSignal): Promise<Blob> {
    const response = await this.send('GET', path, { query, signal, headers: { Accept: '*/*' } }, true);
    return response.blob();
  }

  /**
   * A multipart upload with progress (XMLHttpRequest: fetch reports no upload progress).
   * `onProgress` gets the fraction sent, 0–1. Retries once after a token refresh on 401.
   */
  upload<T>(path: string, form: FormData, onProgress?: (fraction: number) => void, retry = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', this.url(path));
      const token = this.accessToken;
      if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
      };
      xhr.onerror = () => reject(new ApiError(0, null));
      xhr.onload = async () => {
        let body: unknown = null;
        try {
          body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
        } catch {
          body = null;
        }
        if (xhr.status === 401 && retry && token && (await this.refresh())) {
          this.upload<T>(path, form, onProgress, false).then(resolve, reject);
          return;
        }
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress?.(1);
          resolve(body as T);
        } else {
          reject(new ApiError(xhr.status, (body as { detail?: unknown } | null)?.detail ?? null));
        }
      };
      xhr.send(form);
    });
  }

  /** The WebSocket URL of a `/ws/...` path with the current access token. */
  wsUrl(path: string, origin = window.location.origin): string {
    const base = (this.baseUrl || origin).replace(/^http/, 'ws');
    const sep = path.includes('?') ? '&' : '?';
    return `${base}${path}${sep}access_token=${encodeURIComponent(this.accessToken ?? '')}`;
  }
}

export const api = new ApiClient({ storage: typeof window !== 'undefined' ? window.localStorage : undefined });
