// Real captures between two test namespaces, with known traffic and exact counts per filter,
// through the in-process agent.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Agent } from '../src/agent/agent.js';
import { LinuxTcpdumpBackend } from '../src/backends/linux/tcpdump.js';
import { Direction, StopReason } from '../src/gen/cnspect/v1/agent.js';
import { makeNetnsPair, inNs, spawnInNs, waitNoTcpdump, type NetnsPair } from './helpers/netns.js';
import { request, startCapture } from './helpers/capture.js';
import { waitFor } from './helpers/wait.js';
import { IPPROTO_TCP } from '../src/packet/linktype.js';

const TRAFFIC = fileURLToPath(new URL('../../test/fixtures/traffic.mjs', import.meta.url));

describe('capture between two namespaces (in-process agent)', () => {
  let net: NetnsPair;
  let agent: Agent;

  before(() => {
    net = makeNetnsPair();
    agent = new Agent(new LinuxTcpdumpBackend(), { maxSessions: 8 }, 'test-node');
  });
  after(async () => {
    await agent.close();
    net.destroy();
  });

  const ping = (count: number, target = net.ipB, extra: string[] = []): void => {
    inNs(net.a, ['ping', ...extra, '-c', String(count), '-i', '0.01', '-W', '2', target]);
  };

  it('counts 20 ICMP echoes exactly, both directions, with interface names and increasing timestamps', async () => {
    const cap = await startCapture(agent, request({ netns: net.b, tokens: { protocols: ['ICMP'] } }));
    assert.equal(cap.started.bpfExpression, 'icmp');
    ping(20);
    await cap.waitPackets(40);
    const summary = await cap.stop();
    assert.equal(summary.reason, StopReason.STOP_REASON_STOPPED);
    assert.equal(cap.packets.length, 40);
    assert.equal(summary.counters?.packets, 40n);
    const eth0 = summary.counters!.interfaces.find((i) => i.interface === 'eth0');
    assert.ok(eth0, 'counters name the interface eth0');
    assert.equal(eth0.rxPackets, 20n);
    assert.equal(eth0.txPackets, 20n);
    assert.equal(cap.packets.filter((p) => p.direction === Direction.DIRECTION_INBOUND).length, 20);
    for (let i = 1; i < cap.packets.length; i++)
      assert.ok(cap.packets[i]!.timestampNs >= cap.packets[i - 1]!.timestampNs);
    const names = cap.events.flatMap((e) =>
      e.event?.$case === 'packets' ? e.event.value.interfaces.map((x) => x.name) : [],
    );
    assert.deepEqual(names, ['eth0']);
  });

  it('ANDs across fields and ORs within one: UDP ports, ranges and addresses', async () => {
    const cases: Array<[Parameters<typeof request>[0], number]> = [
      [{ tokens: { protocols: ['UDP'], ports: ['5002'] } }, 7],
      [{ tokens: { ports: ['5001-5002'], protocols: ['udp'] } }, 12],
      [{ tokens: { ports: ['5001', '5003'], protocols: ['UDP'] } }, 14],
      [{ tokens: { ips: [net.ipB], ports: ['5003'], protocols: ['UDP'] } }, 9],
      [{ tokens: { ips: ['10.99.0.0/16'], protocols: ['UDP'] } }, 0],
    ];
    const caps = await Promise.all(
      cases.map(([r]) => startCapture(agent, request({ netns: net.a, interface: 'eth0', ...r }))),
    );
    inNs(net.a, ['node', TRAFFIC, 'udp-send', net.ipB, '5001:5', '5002:7', '5003:9']);
    for (const [i, [, expected]] of cases.entries()) await caps[i]!.waitPackets(expected);
    const summaries = await Promise.all(caps.map((c) => c.stop()));
    cases.forEach(([r, expected], i) => {
      assert.equal(
        caps[i]!.packets.length,
        expected,
        `filter ${JSON.stringify(r)} (${caps[i]!.started.bpfExpression})`,
      );
      assert.equal(summaries[i]!.counters?.packets, BigInt(expected));
    });
    // On one Ethernet interface direction comes from the interface's own MAC: all sent.
    assert.ok(caps[0]!.packets.every((p) => p.direction === Direction.DIRECTION_OUTBOUND));
    // A filter that contradicts itself is refused instead of capturing nothing in silence.
    await assert.rejects(
      startCapture(agent, request({ netns: net.a, tokens: { ports: ['5002'], protocols: ['ICMP'] } })),
      { code: 'CNSPECT_FILTER_NEVER_MATCHES' },
    );
  });

  it('sees one TCP connection: 2 SYNs, 2 FINs and exactly the bytes sent (IPv4 and IPv6)', async () => {
    for (const [server, port] of [
      [net.ipB, 7101],
      [net.ip6B, 7102],
    ] as const) {
      const syn = await startCapture(
        agent,
        request({ netns: net.b, tokens: { protocols: ['TCP_SYN'], ports: [String(port)] } }),
      );
      const fin = await startCapture(
        agent,
        request({ netns: net.b, tokens: { protocols: ['tcp_fin'], ports: [String(port)] } }),
      );
      const all = await startCapture(
        agent,
        request({ netns: net.b, tokens: { protocols: ['TCP'], ports: [String(port)] } }),
      );
      const srv = spawnInNs(net.b, ['node', TRAFFIC, 'tcp-server', String(port)]);
      let out = '';
      srv.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      try {
        await waitFor(() => out.includes('listening'), 'tcp server');
        inNs(net.a, ['node', TRAFFIC, 'tcp-client', server, String(port), '100000']);
        await waitFor(() => out.includes('received'), 'tcp server to finish');
        assert.match(out, /received 100000/);
        await syn.waitPackets(2);
        await fin.waitPackets(2);
        const sentBytes = (): number =>
          all
            .decoded()
            .filter(({ d }) => d.l4Proto === IPPROTO_TCP && d.dstPort === port)
            .reduce((s, { d }) => s + d.payloadLength, 0);
        await waitFor(
          () => sentBytes() === 100000 && all.decoded().filter(({ d }) => d.tcpFlags & 1).length === 2,
          `all 100000 bytes on port ${port} (have ${sentBytes()})`,
        );
        await Promise.all([syn.stop(), fin.stop(), all.stop()]);
        assert.equal(syn.packets.length, 2, `SYN and SYN-ACK for ${server}`);
        assert.equal(fin.packets.length, 2, `one FIN each way for ${server}`);
        assert.equal(sentBytes(), 100000);
      } finally {
        srv.kill('SIGKILL');
      }
    }
  });

  it('--type flow keeps exactly the packets that open or close flows of a known exchange', async () => {
    const cap = await startCapture(
      agent,
      request({ netns: net.b, interface: 'eth0', type: 2, tokens: { ips: [net.ipA] } }),
    );
    const srv = spawnInNs(net.b, ['node', TRAFFIC, 'tcp-server', '7201']);
    let out = '';
    srv.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await waitFor(() => out.includes('listening'), 'tcp server');
      inNs(net.a, ['node', TRAFFIC, 'tcp-client', net.ipB, '7201', '50000']);
      await waitFor(() => out.includes('received'), 'tcp server to finish');
      inNs(net.a, ['node', TRAFFIC, 'udp-send', net.ipB, '5001:3', '5002:2']);
      ping(4);
      // TCP: SYN, SYN-ACK, FIN, FIN; UDP: one per destination port; ICMP: one echo flow.
      await cap.waitPackets(7);
      const summary = await cap.stop();
      const kinds = cap
        .decoded()
        .map(({ d }) =>
          d.l4Proto === 6 ? `tcp:${d.tcpFlags & 0x07}` : d.l4Proto === 17 ? `udp:${d.dstPort}` : `icmp:${d.icmpType}`,
        );
      assert.deepEqual(
        kinds.filter((k) => !k.startsWith('icmp:3')),
        ['tcp:2', 'tcp:2', 'tcp:1', 'tcp:1', 'udp:5001', 'udp:5002', 'icmp:8'],
      );
      assert.equal(summary.counters?.packets, BigInt(cap.packets.length));
    } finally {
      srv.kill('SIGKILL');
    }
  });

  it('captures ICMPv6 (the protocol wcnspect could not accept)', async () => {
    const cap = await startCapture(agent, request({ netns: net.b, tokens: { protocols: ['ICMPv6'] } }));
    ping(5, net.ip6B, ['-6']);
    const echoes = (): number => cap.decoded().filter(({ d }) => d.icmpType === 128 || d.icmpType === 129).length;
    await waitFor(() => echoes() === 10, 'ten ICMPv6 echo packets');
    await cap.stop();
    assert.equal(echoes(), 10);
    assert.ok(cap.decoded().every(({ d }) => d.l4Proto === 58));
  });

  it('filters by MAC on a single interface and refuses MACs on "any"', async () => {
    const cap = await startCapture(
      agent,
      request({
        netns: net.b,
        interface: 'eth0',
        tokens: { macs: [net.macA.toUpperCase().replace(/:/g, '-')], protocols: ['ICMP'] },
      }),
    );
    ping(3);
    await cap.waitPackets(6);
    await cap.stop();
    assert.equal(cap.packets.length, 6);
    await assert.rejects(startCapture(agent, request({ netns: net.b, tokens: { macs: [net.macA] } })), {
      code: 'CNSPECT_FILTER_UNSUPPORTED',
    });
  });

  it('stops by itself on duration, max packets and max bytes, naming the reason', async () => {
    const byCount = await startCapture(
      agent,
      request({ netns: net.b, maxPackets: 4n, tokens: { protocols: ['ICMP'] } }),
    );
    const byBytes = await startCapture(
      agent,
      request({ netns: net.b, maxBytes: 400n, tokens: { protocols: ['ICMP'] } }),
    );
    const byTime = await startCapture(agent, request({ netns: net.b, durationMs: 300n }));
    ping(5);
    const [c, b, t] = await Promise.all([byCount.summary, byBytes.summary, byTime.summary]);
    assert.equal(c.reason, StopReason.STOP_REASON_MAX_PACKETS);
    assert.equal(byCount.packets.length, 4);
    assert.equal(b.reason, StopReason.STOP_REASON_MAX_BYTES);
    assert.equal(byBytes.packets.length, 4, '4 x 104-byte packets (SLL2 + IPv4 + ICMP) reach 400 bytes');
    assert.equal(t.reason, StopReason.STOP_REASON_DURATION);
    await waitNoTcpdump(net.b);
  });

  it('keeps sessions apart: stopping one leaves the other capturing', async () => {
    const one = await startCapture(agent, request({ netns: net.b, tokens: { protocols: ['ICMP'] } }));
    const two = await startCapture(agent, request({ netns: net.b, tokens: { protocols: ['ICMP'] } }));
    assert.notEqual(one.started.sessionId, two.started.sessionId);
    ping(2);
    await one.waitPackets(4);
    await two.waitPackets(4);
    await one.stop();
    ping(3);
    await two.waitPackets(10);
    const counters = await agent.counters();
    assert.deepEqual(
      counters.sessions.map((s) => s.sessionId),
      [two.started.sessionId],
    );
    await two.stop();
    assert.equal(one.packets.length, 4);
    assert.equal(two.packets.length, 10);
    await waitNoTcpdump(net.b);
  });

  it('reports what the OS refuses before capturing: unknown netns, unknown interface, too many sessions', async () => {
    await assert.rejects(startCapture(agent, request({ netns: `${net.prefix}-nope` })), {
      code: 'CNSPECT_NETNS_NOT_FOUND',
    });
    await assert.rejects(
      startCapture(agent, request({ netns: net.b, interface: 'eth9' })),
      (err: Error & { code?: string }) => err.code === 'CNSPECT_INTERFACE_NOT_FOUND' && /eth0/.test(err.message),
    );
    await assert.rejects(startCapture(agent, request({ netns: '../etc' })), { code: 'CNSPECT_BAD_REQUEST' });
    const small = new Agent(new LinuxTcpdumpBackend(), { maxSessions: 1 }, 'small');
    const first = await startCapture(small, request({ netns: net.b }));
    await assert.rejects(startCapture(small, request({ netns: net.b })), { code: 'CNSPECT_TOO_MANY_SESSIONS' });
    await first.stop();
    await small.close();
    await waitNoTcpdump(net.b);
  });
});
