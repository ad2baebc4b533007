// A child's output as whole lines: chunks arrive cut anywhere, lines are handed on complete.

/**
 * Calls `onLine` for every complete line read from `stream` (LF or CRLF), and for a last unterminated one at its end.
 */
export function forEachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (partial + chunk).split(/\r?\n/);
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  stream.on('end', () => {
    if (partial) onLine(partial);
    partial = '';
  });
}
