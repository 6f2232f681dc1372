import { ReconnectingSocket, backoffDelay, type BackoffOptions } from './socket';

class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  closed = false;
  onopen: ((ev: Event) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  send(data: string) {
    this.sent.push(data);
  }

  close() {
    this.closed = true;
    this.readyState = 3;
  }

  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code } as CloseEvent);
  }

  message(data: unknown) {
    this.onmessage?.({ data: JSON.stringify(data) } as MessageEvent);
  }
}

const BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 };

function makeSocket(extra: Partial<ConstructorParameters<typeof ReconnectingSocket>[0]> = {}) {
  const messages: unknown[] = [];
  const states: string[] = [];
  let token = 't1';
  const socket = new ReconnectingSocket({
    url: () => `ws://x/ws/stream?access_token=${token}`,
    onMessage: (m) => messages.push(m),
    onState: (s) => states.push(s),
    hello: () => ({ op: 'subscribe', tracking: ['cam'] }),
    backoff: BACKOFF,
    WebSocketImpl: FakeSocket,
    random: () => 0.5,
    ...extra,
  });
  return { socket, messages, states, setToken: (t: string) => { token = t; } };
}

beforeEach(() => {
  FakeSocket.all = [];
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

describe('backoffDelay', () => {
  it('doubles from the initial delay up to the maximum, with bounded jitter', () => {
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, BACKOFF))).toEqual([100, 200, 400, 800, 1000, 1000]);
    const spread = { ...BACKOFF, jitter: 0.2 };
    expect(backoffDelay(1, spread, () => 0)).toBe(160);
    expect(backoffDelay(1, spread, () => 1)).toBe(240);
    expect(backoffDelay(9, spread, () => 1)).toBe(1000);
  });
});

describe('ReconnectingSocket', () => {
  it('connects, sends its subscription on open and delivers parsed messages', () => {
    const { socket, messages, states } = makeSocket();
    socket.start();
    expect(FakeSocket.all).toHaveLength(1);
    FakeSocket.all[0].open();
    expect(JSON.parse(FakeSocket.all[0].sent[0])).toEqual({ op: 'subscribe', tracking: ['cam'] });
    FakeSocket.all[0].message({ kind: 'event', id: 'e1' });
    FakeSocket.all[0].onmessage?.({ data: 'not json' } as MessageEvent);
    expect(messages).toEqual([{ kind: 'event', id: 'e1' }]);
    expect(states).toEqual(['connecting', 'open']);
  });

  it('reconnects after a drop with growing delays, and resets them once connected', () => {
    const { socket } = makeSocket();
    socket.start();
    FakeSocket.all[0].drop();
    vi.advanceTimersByTime(99);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.all[1].drop();
    vi.advanceTimersByTime(199);
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(3);
    expect(socket.attempts).toBe(2);
    FakeSocket.all[2].open();
    expect(socket.attempts).toBe(0);
    expect(FakeSocket.all[2].sent).toHaveLength(1); // the subscription is restored
    FakeSocket.all[2].drop();
    vi.advanceTimersByTime(100);
    expect(FakeSocket.all).toHaveLength(4);
  });

  it('refreshes the token after a policy close (1008) and reconnects with the new one', async () => {
    const refresh = vi.fn();
    const ctx = makeSocket({ onAuthRefused: () => { refresh(); ctx.setToken('t2'); return Promise.resolve(true); } });
    ctx.socket.start();
    expect(FakeSocket.all[0].url).toContain('access_token=t1');
    FakeSocket.all[0].drop(1008);
    expect(refresh).toHaveBeenCalledTimes(1);
    await Promise.resolve();
    await Promise.resolve();
    vi.advanceTimersByTime(100);
    expect(FakeSocket.all[1].url).toContain('access_token=t2');
  });

  it('waits while there is no URL (signed out) and does not reconnect after stop', () => {
    let url: string | null = null;
    const { socket, states } = makeSocket({ url: () => url });
    socket.start();
    expect(FakeSocket.all).toHaveLength(0);
    url = 'ws://x/ws/stream?access_token=t';
    vi.advanceTimersByTime(100);
    expect(FakeSocket.all).toHaveLength(1);
    socket.stop();
    expect(FakeSocket.all[0].closed).toBe(true);
    FakeSocket.all[0].drop();
    vi.advanceTimersByTime(10_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(states.at(-1)).toBe('closed');
  });

  it('sends only while open', () => {
    const { socket } = makeSocket();
    socket.start();
    expect(socket.send({ a: 1 })).toBe(false);
    FakeSocket.all[0].open();
    expect(socket.send({ a: 1 })).toBe(true);
    expect(FakeSocket.all[0].sent.at(-1)).toBe('{"a":1}');
  });
});
