import { Alert, Button, Group, Text } from '@mantine/core';
import { IconAlertTriangle } from '@tabler/icons-react';
import { describeError } from '../api/client';

/** An API or runtime error in words (the API's `detail`), with an optional retry button. */
export function ErrorBanner({ error, title = 'Something went wrong', onRetry }: {
  error: unknown;
  title?: string;
  onRetry?: () => void;
}) {
  if (!error) return null;
  return (
    <Alert color="red" variant="light" title={title} icon={<IconAlertTriangle size={18} />} role="alert">
      <Group justify="space-between" wrap="nowrap">
        <Text size="sm" data-testid="error-text">{describeError(error)}</Text>
        {onRetry && (
          <Button size="xs" variant="default" onClick={onRetry} aria-label="Try again">
            Try again
          </Button>
        )}
      </Group>
    </Alert>
  );
}
