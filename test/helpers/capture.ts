// Drives a capture through any AgentApi (in-process or remote) and keeps what it streams.
import type { AgentApi } from '../../src/contract/agent-api.js';
import type {
  CaptureEvent,
  CaptureRequest,
  CaptureStarted,
  CaptureSummary,
  Packet,
} from '../../src/gen/cnspect/v1/agent.js';
import { emptyFilter, filterFromTokens, type FilterTokens } from '../../src/packet/filter.js';
import { decode, type Decoded } from '../../src/packet/decode.js';
import { waitFor } from './wait.js';

export function request(over: Partial<CaptureRequest> & { tokens?: FilterTokens } = {}): CaptureRequest {
  const { tokens, ...rest } = over;
  return {
    filter: tokens ? filterFromTokens(tokens) : emptyFilter(),
    type: 1,
    durationMs: 0n,
    countersOnly: false,
    snaplenBytes: 0,
    maxBytes: 0n,
    maxPackets: 0n,
    interface: 'any',
    netns: '',
    counterIntervalMs: 0,
    pods: [],
    inPod: false,
    needPacketBytes: false,
    includeSelf: false,
    ...rest,
  };
}

export interface RunningCapture {
  started: CaptureStarted;
  events: CaptureEvent[];
  packets: Packet[];
  summary: Promise<CaptureSummary>;
  waitPackets(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<CaptureSummary>;
  decoded(): Array<{ p: Packet; d: Decoded }>;
  abort: AbortController;
}

export async function startCapture(api: AgentApi, req: CaptureRequest): Promise<RunningCapture> {
  const events: CaptureEvent[] = [];
  const packets: Packet[] = [];
  const abort = new AbortController();
  let started: CaptureStarted | undefined;
  let failure: unknown;
  const summary = (async () => {
    let s: CaptureSummary | undefined;
    try {
      for await (const ev of api.capture(req, abort.signal)) {
        events.push(ev);
        if (ev.event?.$case === 'started') started = ev.event.value;
        if (ev.event?.$case === 'packets') packets.push(...ev.event.value.packets);
        if (ev.event?.$case === 'summary') s = ev.event.value;
      }
    } catch (err) {
      failure = err;
      throw err;
    }
    if (!s) throw new Error('capture ended without a summary');
    return s;
  })();
  summary.catch(() => undefined);
  await waitFor(() => started ?? (failure ? Promise.reject(failure) : undefined), 'capture to start');
  return {
    started: started!,
    events,
    packets,
    summary,
    abort,
    waitPackets: async (n, timeoutMs = 10_000) => {
      await waitFor(() => packets.length >= n, `${n} packets (have ${packets.length})`, timeoutMs);
    },
    stop: async () => {
      await api.stopCapture(started!.sessionId);
      return summary;
    },
    decoded: () => packets.map((p) => ({ p, d: decode(started!.linkType, p.data) })),
  };
}
