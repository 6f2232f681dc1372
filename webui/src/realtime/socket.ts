// One WebSocket that reconnects with exponential backoff and jitter, re-sends its subscription on
// every (re)connect, and asks for a fresh token when the server refused the old one (close 1008).

export type SocketState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface BackoffOptions {
  /** First delay after a drop (ms). */
  initialMs: number;
  /** Longest delay (ms). */
  maxMs: number;
  /** Each failed attempt multiplies the delay by this. */
  factor: number;
  /** ± fraction of random spread, so many tabs do not reconnect in step. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 15_000, factor: 2, jitter: 0.2 };

/** Delay before reconnect attempt `attempt` (0-based), in ms. */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random = Math.random): number {
  const base = Math.min(options.maxMs, options.initialMs * options.factor ** attempt);
  const spread = base * options.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(Math.min(options.maxMs, base + spread)));
}

type WebSocketLike = Pick<WebSocket, 'send' | 'close' | 'readyState'> & {
  onopen: ((ev: Event) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
};

export interface ReconnectingSocketOptions {
  /** The URL to open (called at each attempt, so a refreshed token is used); `null` = not now. */
  url: () => string | null;
  /** Parsed JSON messages. */
  onMessage: (message: unknown) => void;
  onState?: (state: SocketState) => void;
  /** Called after a close with 1008 (policy: e.g. an expired token) before reconnecting. */
  onAuthRefused?: () => Promise<unknown>;
  /** Sent after every open (e.g. the current subscription); `null` sends nothing. */
  hello?: () => unknown | null;
  backoff?: BackoffOptions;
  WebSocketImpl?: new (url: string) => WebSocketLike;
  random?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export class ReconnectingSocket {
  private ws: WebSocketLike | null = null;
  private timer: unknown = null;
  private attempt = 0;
  private stopped = true;
  private _state: SocketState = 'idle';
  private readonly opts: Required<Omit<ReconnectingSocketOptions, 'onState' | 'onAuthRefused' | 'hello'>> &
    ReconnectingSocketOptions;

  constructor(options: ReconnectingSocketOptions) {
    this.opts = {
      backoff: DEFAULT_BACKOFF,
      WebSocketImpl: WebSocket as unknown as new (url: string) => WebSocketLike,
      random: Math.random,
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
      ...options,
    };
  }

  get state(): SocketState {
    return this._state;
  }

  /** Reconnect attempts since the last successful open. */
  get attempts(): number {
    return this.attempt;
  }

  private setState(state: SocketState): void {
    this._state = state;
    this.opts.onState?.(state);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.opts.clearTimer(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.onerror = null;
      ws.close(1000, 'bye');
    }
    this.setState('closed');
  }

  /** Send a JSON message now if open (it is not queued: use `hello` for state to restore). */
  send(message: unknown): boolean {
    if (this.ws && this.ws.readyState === 1) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  /** Re-send the `hello` message (after the subscription changed). */
  resendHello(): void {
    const hello = this.opts.hello?.();
    if (hello != null) this.send(hello);
  }

  private connect(): void {
    if (this.stopped) return;
    const url = this.opts.url();
    if (!url) {
      this.schedule();
      return;
    }
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let ws: WebSocketLike;
    try {
      ws = new this.opts.WebSocketImpl(url);
    } catch {
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.setState('open');
      this.resendHello();
    };
    ws.onmessage = (ev: MessageEvent) => {
      try {
        this.opts.onMessage(JSON.parse(String(ev.data)));
      } catch {
        // not JSON: ignored
      }
    };
    ws.onerror = () => {
      // a close event follows; reconnecting happens there
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (ev.code === 1008 && this.opts.onAuthRefused) {
        this.opts.onAuthRefused().finally(() => this.schedule());
      } else {
        this.schedule();
      }
    };
  }

  private schedule(): void {
    if (this.stopped) return;
    this.setState('reconnecting');
    const delay = backoffDelay(this.attempt, this.opts.backoff, this.opts.random);
    this.attempt += 1;
    this.timer = this.opts.setTimer(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }
}
