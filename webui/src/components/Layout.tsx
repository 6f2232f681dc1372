import { AppShell, Badge, Burger, Button, Center, Group, Loader, NavLink, ScrollArea, Text, Tooltip, ActionIcon,
  useComputedColorScheme, useMantineColorScheme } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import {
  IconAlertTriangle, IconBuildingStore, IconChartBar, IconChartHistogram, IconCamera, IconCash, IconChartDots, IconDashboard, IconList,
  IconLogout, IconMap, IconMoon, IconSettings, IconSun, IconUpload, IconUsers,
} from '@tabler/icons-react';
import { Suspense, type ReactNode } from 'react';
import { NavLink as RouterLink, Outlet, useLocation } from 'react-router-dom';
import { useAuth, type Permission } from '../api/auth';
import { useRealtime } from '../realtime/RealtimeProvider';
import { ErrorBoundary } from './ErrorBoundary';

interface Item {
  to: string;
  label: string;
  icon: ReactNode;
  permission?: Permission;
}

export const NAV: Item[] = [
  { to: '/', label: 'Dashboard', icon: <IconDashboard size={18} /> },
  { to: '/live', label: 'Live', icon: <IconCamera size={18} /> },
  { to: '/map', label: 'Map', icon: <IconMap size={18} /> },
  { to: '/alerts', label: 'Alerts', icon: <IconAlertTriangle size={18} /> },
  { to: '/events', label: 'Events', icon: <IconList size={18} /> },
  { to: '/jobs', label: 'Jobs', icon: <IconUpload size={18} /> },
  { to: '/analytics', label: 'Analytics', icon: <IconChartHistogram size={18} /> },
  { to: '/sites', label: 'Sites & cameras', icon: <IconBuildingStore size={18} /> },
  { to: '/pos', label: 'POS simulator', icon: <IconCash size={18} /> },
  { to: '/training', label: 'Training', icon: <IconChartDots size={18} /> },
  { to: '/reports', label: 'Review rates', icon: <IconChartBar size={18} /> },
  { to: '/users', label: 'Users & roles', icon: <IconUsers size={18} />, permission: 'user.read' },
  { to: '/settings', label: 'Settings', icon: <IconSettings size={18} /> },
];

const SOCKET_COLOR: Record<string, string> = { open: 'green', connecting: 'blue', reconnecting: 'orange' };

export function ThemeToggle() {
  const { setColorScheme } = useMantineColorScheme();
  const scheme = useComputedColorScheme('dark');
  const next = scheme === 'dark' ? 'light' : 'dark';
  return (
    <Tooltip label={`Switch to ${next} theme`}>
      <ActionIcon variant="default" size="lg" onClick={() => setColorScheme(next)} aria-label={`Switch to ${next} theme`}>
        {scheme === 'dark' ? <IconSun size={18} /> : <IconMoon size={18} />}
      </ActionIcon>
    </Tooltip>
  );
}

export function Layout() {
  const [opened, { toggle, close }] = useDisclosure();
  const { user, logout, can } = useAuth();
  const { state } = useRealtime();
  const location = useLocation();
  const items = NAV.filter((i) => !i.permission || can(i.permission));
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 230, breakpoint: 'md', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="md" size="sm" aria-label="Toggle navigation" />
            <Text fw={700} component="span">Digital Witness</Text>
            <Badge color={SOCKET_COLOR[state] ?? 'gray'} variant="dot" aria-label={`live connection ${state}`}
              data-testid="socket-state" data-state={state} visibleFrom="xs">
              live {state === 'open' ? 'connected' : state}
            </Badge>
          </Group>
          <Group gap="sm" wrap="nowrap">
            <ThemeToggle />
            <Text size="sm" visibleFrom="sm" aria-label="signed-in user">
              {user ? `${user.username} (${user.role})` : ''}
            </Text>
            <Button variant="default" size="xs" leftSection={<IconLogout size={16} />} onClick={() => void logout()}
              aria-label="Sign out">
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main navigation">
        <ScrollArea>
          <nav>
            {items.map((item) => (
              <NavLink key={item.to} component={RouterLink} to={item.to} label={item.label} leftSection={item.icon}
                onClick={close} end={item.to === '/'}
                active={item.to === '/' ? location.pathname === '/' : location.pathname.startsWith(item.to)} />
            ))}
          </nav>
        </ScrollArea>
      </AppShell.Navbar>
      <AppShell.Main>
        <ErrorBoundary resetKey={location.pathname}>
          <Suspense fallback={<Center h={200}><Loader aria-label="Loading page" /></Center>}>
            <Outlet />
          </Suspense>
        </ErrorBoundary>
      </AppShell.Main>
    </AppShell>
  );
}
