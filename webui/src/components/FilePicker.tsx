import { Input } from '@mantine/core';
import { useId } from 'react';

/** A labelled native file input (keyboard- and screen-reader-friendly, scriptable in tests). */
export function FilePicker({ label, description, accept, multiple, onChange, name, required }: {
  label: string;
  description?: string;
  accept?: string;
  multiple?: boolean;
  name: string;
  required?: boolean;
  onChange: (files: File[]) => void;
}) {
  const id = useId();
  return (
    <Input.Wrapper label={label} description={description} id={id} required={required}>
      <input id={id} name={name} type="file" accept={accept} multiple={multiple} data-testid={`file-${name}`}
        onChange={(e) => onChange(Array.from(e.currentTarget.files ?? []))}
        style={{ display: 'block', marginTop: 4, fontSize: 14, maxWidth: '100%' }} />
    </Input.Wrapper>
  );
}
