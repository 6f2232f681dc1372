import { Component, type ErrorInfo, type ReactNode } from 'react';
import { Button, Container, Stack, Text, Title } from '@mantine/core';
import { describeError } from '../api/client';

interface State {
  error: unknown;
}

/** Catches a page's render errors: shows them in words with a reload button, never a blank page. */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey?: unknown }, State> {
  state: State = { error: null };

  static getDerivedStateFromError(error: unknown): State {
    return { error };
  }

  componentDidCatch(error: unknown, info: ErrorInfo): void {
    console.warn('page error', error, info.componentStack);
  }

  componentDidUpdate(prev: { resetKey?: unknown }): void {
    if (prev.resetKey !== this.props.resetKey && this.state.error) this.setState({ error: null });
  }

  render() {
    if (!this.state.error) return this.props.children;
    return (
      <Container size="sm" py="xl">
        <Stack role="alert">
          <Title order={2}>This page failed to display</Title>
          <Text>{describeError(this.state.error)}</Text>
          <Button onClick={() => this.setState({ error: null })} w="fit-content" aria-label="Retry displaying the page">
            Retry
          </Button>
        </Stack>
      </Container>
    );
  }
}
