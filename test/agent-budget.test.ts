// One memory budget for all of an agent's sessions: clients that stop reading cost counted
// stream drops, never memory past the budget, however many of them there are. The backend is a
// stand-in that delivers packets on demand (the budget is agent logic, not OS work).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from '../src/agent/agent.js';
import { PACKET_OVERHEAD_BYTES } from '../src/agent/session.js';
import type { CaptureBackend, CaptureHandle, CaptureSink } from '../src/backends/backend.js';
import { CaptureType } from '../src/gen/cnspect/v1/agent.js';
import { Dir } from '../src/packet/decode.js';
import { request } from './helpers/capture.js';

class FloodBackend implements CaptureBackend {
  readonly name = 'flood';
  readonly os = 'linux' as const;
  readonly captureTypes = [CaptureType.CAPTURE_TYPE_ALL];
  readonly sinks: CaptureSink[] = [];

  async start(_spec: unknown, sink: CaptureSink): Promise<CaptureHandle> {
    this.sinks.push(sink);
    let end!: (v: { error?: Error }) => void;
    const ended = new Promise<{ error?: Error }>((r) => {
      end = r;
    });
    return {
      capturePoint: 'nowhere',
      linkType: 1,
      snaplen: 262144,
      filterExpression: '',
      interfaceName: () => 'flood0',
      kernelDropped: () => 0,
      requestStats: () => undefined,
      stop: async () => {
        end({});
      },
      ended,
    };
  }

  flood(sink: CaptureSink, count: number, size: number): void {
    const data = Buffer.alloc(size, 0xab);
    for (let i = 0; i < count; i++)
      sink.packet({ sec: 1, nsec: i, originalLength: size, data, ifindex: 2, direction: Dir.In });
  }
}

describe('agent-wide stream budget', () => {
  it('holds all stalled sessions together inside one budget and counts the rest as stream drops', async () => {
    const budget = 4 << 20;
    const backend = new FloodBackend();
    const agent = new Agent(backend, { streamBudgetBytes: budget }, 'budget-node');
    const sessions = await Promise.all([1, 2, 3].map(() => agent.startSession(request())));
    try {
      // Nobody reads: each session is offered 10 MB (with overhead ~12.5 MB), far past the budget.
      for (const sink of backend.sinks) backend.flood(sink, 10_000, 1000);
      assert.ok(agent.streamBudget.used <= budget, `queued ${agent.streamBudget.used} bytes, budget ${budget}`);
      assert.ok(
        agent.streamBudget.used > budget - (1 << 20) - 512 * PACKET_OVERHEAD_BYTES,
        'the budget was used, not refused outright',
      );
      for (const s of sessions) {
        const c = s.snapshot();
        assert.equal(c.packets, 10_000n, 'every packet is counted');
        assert.ok(c.streamDropped > 0n, 'what did not fit is counted as stream drops');
      }
    } finally {
      await agent.close();
    }
    // Each session tells its client how many packets it dropped; reading frees the budget.
    for (const s of sessions) {
      const notices: string[] = [];
      for await (const ev of s.events)
        if (ev.event?.$case === 'notice') notices.push(`${ev.event.value.code}: ${ev.event.value.message}`);
      assert.ok(
        notices.some((n) => /^CNSPECT_STREAM_DROPS: \d+ packets were counted but not sent/.test(n)),
        notices.join('\n'),
      );
    }
    assert.equal(agent.streamBudget.used, 0);
  });
});
