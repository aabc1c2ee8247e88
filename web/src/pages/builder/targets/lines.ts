// A textarea of one entry per line bound to a `string[]` (host lists, exclusions) without
// eating the blank line the operator is typing: the text is kept as typed and only replaced
// when the value changes from outside.
import { useState } from 'react';

/** The non-blank lines, trimmed. */
export function splitLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** 1-based line number in `text` of the `index`-th non-blank line. */
export function lineOfEntry(text: string, index: number): number | undefined {
  let seen = -1;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    seen += 1;
    if (seen === index) return i + 1;
  }
  return undefined;
}

function same(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function useLinesDraft(lines: string[], onLines: (next: string[]) => void): [string, (text: string) => void] {
  const [text, setText] = useState(() => lines.join('\n'));
  const [prev, setPrev] = useState(lines);
  if (prev !== lines) {
    setPrev(lines);
    if (!same(splitLines(text), lines)) setText(lines.join('\n'));
  }
  const update = (next: string) => {
    setText(next);
    const parsed = splitLines(next);
    if (!same(parsed, lines)) onLines(parsed);
  };
  return [text, update];
}
