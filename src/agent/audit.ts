// The agent's audit trail: one line per connection accepted or refused and per session started
// or ended — who (the client certificate's subject and address), what (the filter), how it ended.
// Text for people, JSON lines (--log-format json) for log pipelines.

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type AuditEvent =
  | { event: 'connection-accepted'; peer: string; client: string }
  | { event: 'connection-refused'; peer: string; reason: string }
  | { event: 'request-refused'; peer: string; client: string; method: string; code: string; message: string }
  | { event: 'session-started'; peer: string; client: string; session: string; filter: string; capturePoint: string }
  | {
      event: 'session-ended';
      peer: string;
      client: string;
      session: string;
      reason: string;
      packets: number;
      bytes: number;
      error?: string;
    };

export type AuditSink = (e: AuditEvent) => void;

/** Writes audit events to `out` as text or JSON lines, each with its time. */
export function auditWriter(out: NodeJS.WritableStream, format: LogFormat, now = (): Date => new Date()): AuditSink {
  return (e) => {
    const time = now().toISOString();
    if (format === 'json') {
      out.write(`${JSON.stringify({ time, ...e })}\n`);
      return;
    }
    const { event, ...rest } = e;
    out.write(
      `${time} audit ${event} ${Object.entries(rest)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(' ')}\n`,
    );
  };
}

/** The subject of a peer certificate as "CN=…, O=…" (Node gives an object). */
export function subjectText(subject: Record<string, string | string[]> | undefined): string {
  if (!subject) return '';
  return Object.entries(subject)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(', ');
}
