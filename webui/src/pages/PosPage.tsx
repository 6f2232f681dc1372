import { useState, type FormEvent } from 'react';
import { Alert, Badge, Button, Card, Grid, Group, Loader, NumberInput, Select, SimpleGrid, Stack, Table, Text, TextInput, Title,
  UnstyledButton } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useAuth } from '../api/auth';
import { ApiError, api, describeError } from '../api/client';
import type { Paged, PosProduct, PosSession, PosTerminal, PosTransaction } from '../api/types';
import { StatusBadge } from '../components/Badges';
import { ErrorBanner } from '../components/ErrorBanner';
import { fmtEpoch, fmtMoney } from '../components/format';

const PAYMENT = ['card', 'cash', 'mobile', 'other'];

function NewProduct({ onDone }: { onDone: () => void }) {
  const [sku, setSku] = useState('');
  const [name, setName] = useState('');
  const [price, setPrice] = useState<number | string>('');
  const [error, setError] = useState<string | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      await api.post('/pos/products', { sku: sku.trim(), name: name.trim(), price: String(price) });
      setSku(''); setName(''); setPrice(''); setError(null); onDone();
    } catch (err) {
      setError(describeError(err));
    }
  }
  return (
    <form onSubmit={submit} aria-label="Add a product">
      <Group align="flex-end">
        <TextInput label="SKU" value={sku} onChange={(e) => setSku(e.currentTarget.value)} required w={130} />
        <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} required />
        <NumberInput hideControls label="Price" value={price} onChange={setPrice} min={0.01} decimalScale={2} step={0.5} required w={110} />
        <Button type="submit" variant="default" disabled={!sku.trim() || !name.trim() || price === ''}>Add product</Button>
      </Group>
      {error && <Alert mt="xs" color="red" role="alert" variant="light">{error}</Alert>}
    </form>
  );
}

export function PosPage() {
  const { can } = useAuth();
  const queryClient = useQueryClient();
  const products = useQuery({ queryKey: ['pos', 'products'], queryFn: () => api.get<Paged<PosProduct>>('/pos/products', { limit: 1000 }) });
  const terminals = useQuery({ queryKey: ['pos', 'terminals'], queryFn: () => api.get<Paged<PosTerminal>>('/pos/terminals', { limit: 1000 }) });
  const [terminal, setTerminal] = useState('till-1');
  const transactions = useQuery({
    queryKey: ['pos', 'transactions', terminal],
    queryFn: () => api.get<Paged<PosTransaction>>('/pos/transactions', { terminal_id: terminal || undefined, limit: 10 }),
  });
  const [session, setSession] = useState<PosSession | null>(null);
  const [payment, setPayment] = useState('card');
  const [quantity, setQuantity] = useState<number | string>(1);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const operate = can('pos.operate');
  const base = `/pos/terminals/${encodeURIComponent(terminal)}/session`;
  const open = session?.status === 'open';

  async function act<T>(name: string, call: () => Promise<T>): Promise<T | null> {
    setBusy(name);
    setError(null);
    try {
      return await call();
    } catch (err) {
      setError(describeError(err));
      return null;
    } finally {
      setBusy(null);
    }
  }

  const start = () => act('start', async () => {
    try {
      setSession(await api.post<PosSession>(base));
    } catch (err) {
      // already open (for example from another tab): resume it
      if (err instanceof ApiError && err.status === 409) setSession(await api.get<PosSession>(base));
      else throw err;
    }
  });
  const scan = (sku: string) => act('scan', async () => setSession(await api.post<PosSession>(`${base}/scan`, { sku, quantity: Number(quantity) || 1 })));
  const complete = () => act('complete', async () => {
    const tx = await api.post<PosTransaction>(`${base}/complete`, { payment_method: payment });
    setSession(null);
    notifications.show({ color: 'green', title: 'Sale completed', message: `Transaction ${tx.id}: ${fmtMoney(tx.total)}` });
    void queryClient.invalidateQueries({ queryKey: ['pos', 'transactions'] });
  });
  const voidIt = () => act('void', async () => {
    await api.post<PosSession>(`${base}/void`);
    setSession(null);
    notifications.show({ color: 'gray', message: 'Session voided: nothing billed' });
  });

  const terminalOptions = [...new Set([terminal, ...(terminals.data?.data.map((t) => t.id) ?? [])].filter(Boolean))];
  return (
    <Stack>
      <Title order={1}>POS simulator</Title>
      <Text size="sm" c="dimmed">Ring up sales on a till as a checkout would; the transactions are cross-checked with what the cameras saw.</Text>
      <ErrorBanner error={products.error ?? terminals.error} onRetry={() => { void products.refetch(); void terminals.refetch(); }} />
      <Grid>
        <Grid.Col span={{ base: 12, md: 7 }}>
          <Card withBorder>
            <Group justify="space-between" mb="sm">
              <Title order={2} size="h4">Catalog</Title>
              <NumberInput hideControls label="Quantity per scan" value={quantity} onChange={setQuantity} min={1} max={100} w={140} size="xs" />
            </Group>
            {products.isLoading && <Loader aria-label="Loading catalog" />}
            {products.data?.data.length === 0 && <Text size="sm" c="dimmed">The catalog is empty.</Text>}
            <SimpleGrid cols={{ base: 2, sm: 3, lg: 4 }} data-testid="catalog-grid">
              {products.data?.data.map((p) => (
                <UnstyledButton key={p.sku} onClick={() => void scan(p.sku)} disabled={!open || busy !== null}
                  aria-label={`Scan ${p.name} (${p.sku}), ${fmtMoney(p.price)}`} style={{ opacity: open ? 1 : 0.6 }}>
                  <Card withBorder padding="sm" h="100%">
                    <Text fw={600} size="sm" lineClamp={2}>{p.name}</Text>
                    <Text size="xs" c="dimmed">{p.sku}</Text>
                    <Text size="sm" mt={4}>{fmtMoney(p.price)}</Text>
                  </Card>
                </UnstyledButton>
              ))}
            </SimpleGrid>
            {can('pos.manage') && <Stack mt="md"><NewProduct onDone={() => void queryClient.invalidateQueries({ queryKey: ['pos', 'products'] })} /></Stack>}
          </Card>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 5 }}>
          <Card withBorder>
            <Title order={2} size="h4" mb="sm">Till</Title>
            <Stack>
              <Select label="Terminal" value={terminal} onChange={(v) => { setTerminal(v ?? ''); setSession(null); }} data={terminalOptions}
                searchable allowDeselect={false} disabled={open} />
              {!operate && <Text size="sm" c="dimmed">Your role can read POS data but not ring up sales.</Text>}
              {operate && !open && <Button onClick={() => void start()} loading={busy === 'start'} disabled={!terminal}>Start or resume session</Button>}
              {open && session && (
                <>
                  <Group justify="space-between"><Text size="sm">Session {session.id}</Text><StatusBadge status={session.status} /></Group>
                  <Table aria-label="Cart" data-testid="cart">
                    <Table.Thead><Table.Tr><Table.Th>SKU</Table.Th><Table.Th>Qty</Table.Th><Table.Th>Unit</Table.Th><Table.Th>Line</Table.Th></Table.Tr></Table.Thead>
                    <Table.Tbody>
                      {session.items.map((i, k) => (
                        <Table.Tr key={`${i.sku}-${k}`}><Table.Td>{i.sku}</Table.Td><Table.Td>{i.quantity}</Table.Td><Table.Td>{fmtMoney(i.unit_price)}</Table.Td>
                          <Table.Td>{fmtMoney(Number(i.unit_price) * i.quantity)}</Table.Td></Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                  {session.items.length === 0 && <Text size="sm" c="dimmed">Scan products from the catalog.</Text>}
                  <Group justify="space-between"><Text fw={700}>Subtotal</Text><Text fw={700} data-testid="subtotal">{fmtMoney(session.subtotal)}</Text></Group>
                  <Select label="Payment method" value={payment} onChange={(v) => setPayment(v ?? 'card')} data={PAYMENT} allowDeselect={false} />
                  <Group grow>
                    <Button color="green" onClick={() => void complete()} loading={busy === 'complete'} disabled={!session.items.length}>Complete sale</Button>
                    <Button color="gray" variant="light" onClick={() => void voidIt()} loading={busy === 'void'}>Void</Button>
                  </Group>
                </>
              )}
              {error && <Alert color="red" role="alert" variant="light">{error}</Alert>}
            </Stack>
          </Card>
          <Card withBorder mt="md">
            <Title order={2} size="h4" mb="sm">Recent transactions</Title>
            <ErrorBanner error={transactions.error} />
            {transactions.data?.data.length === 0 && <Text size="sm" c="dimmed">None yet.</Text>}
            <Stack gap={4}>
              {transactions.data?.data.map((t) => (
                <Group key={t.id} justify="space-between">
                  <Text size="sm">{fmtEpoch(t.t_end_s)} · {t.terminal_id}</Text>
                  <Group gap={6}><Badge variant="light">{t.payment_method}</Badge><Text size="sm" fw={600}>{fmtMoney(t.total)}</Text></Group>
                </Group>
              ))}
            </Stack>
          </Card>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}
