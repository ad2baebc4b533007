// The Windows agent backend's process control, with stand-ins replaying real pktmon/hnsdiag
// outputs: argv of every call, streaming typed records, stop and filter removal on every exit
// path, one session per node, leftovers at agent start, file mode converted to pcapng.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../src/agent/agent.js';
import { PktmonBackend, podComponents } from '../../src/backends/windows/pktmon.js';
import { hnsObjects, parseConcatenatedJson } from '../../src/backends/windows/hns-parse.js';
import { parsePktmonList } from '../../src/backends/windows/pktmon-parse.js';
import { CaptureType, Direction, StopReason, type TextPacket } from '../../src/gen/cnspect/v1/agent.js';
import { decode } from '../../src/packet/decode.js';
import { request, startCapture } from '../helpers/capture.js';
import { loopbackIcmpPcapng, makeStandIns, type StandIns } from '../helpers/standins.js';
import { waitFor } from '../helpers/wait.js';
import { windowsFixture } from '../helpers/windows-fixtures.js';

const records = (events: Array<{ event?: { $case: string; value: unknown } }>): TextPacket[] =>
  events.flatMap((e) => (e.event?.$case === 'records' ? (e.event.value as { records: TextPacket[] }).records : []));
const pktmonCalls = (s: StandIns): string[] =>
  s
    .calls()
    .filter((c) => c[0] === 'pktmon')
    .map((c) => c.slice(1).join(' '));

describe('Windows backend (pktmon stand-in replaying real output)', () => {
  let s: StandIns | undefined;
  let agent: Agent | undefined;
  afterEach(async () => {
    await agent?.close();
    agent = undefined;
    s?.destroy();
    s = undefined;
  });

  const setup = (
    replay: Record<string, string | number | boolean> = {},
    files: Record<string, string> = {},
  ): { s: StandIns; agent: Agent } => {
    s = makeStandIns(replay, files);
    // A fixed "now" on the fixture's day keeps the real-time clock times unambiguous.
    agent = new Agent(
      new PktmonBackend(s.tools, () => new Date(2024, 3, 2, 23, 2, 30).getTime()),
      { maxSessions: 4 },
      'win-node',
    );
    return { s, agent };
  };

  it('captures in real time: filters as argv, typed records streamed, pktmon stopped, filters removed', async () => {
    const { s, agent } = setup();
    assert.equal((await agent.info()).os, 'windows');
    const cap = await startCapture(agent, request({ tokens: { ips: ['192.168.0.62'], protocols: ['TCP_SYN'] } }));
    assert.equal(cap.started.bpfExpression, 'cnspect1 -i 192.168.0.62 -t TCP SYN');
    await waitFor(() => records(cap.events).length >= 5, 'the 5 recorded packets');
    assert.ok(s.sessionRunning());
    assert.deepEqual(s.filters(), [['cnspect1', '-i', '192.168.0.62', '-t', 'TCP', 'SYN']]);
    const summary = await cap.stop();
    assert.equal(summary.reason, StopReason.STOP_REASON_STOPPED);
    assert.equal(summary.counters?.packets, 5n);
    const r = records(cap.events);
    assert.equal(r.length, 5);
    assert.deepEqual(
      { ...r[0]!, timestampNs: undefined },
      {
        timestampNs: undefined,
        interfaceIndex: 78,
        direction: Direction.DIRECTION_OUTBOUND,
        originalLength: 66,
        loggedLength: 66,
        summary:
          '40-EC-99-B9-17-25 > F0-B4-D2-5A-D3-E2, ethertype IPv4 (0x0800), length 66: ' +
          '192.168.0.62.65066 > 172.217.2.115.443: Flags [S], seq 1995496356, win 64240, ' +
          'options [mss 1460,nop,wscale 8,nop,nop,sackOK], length 0',
        groupId: '562949953421500',
        appearance: 1,
        edge: 1,
        frameType: 'Ethernet',
      },
    );
    // 23:02:26.539704700 local time on the day of "now".
    assert.equal(r[0]!.timestampNs, BigInt(new Date(2024, 3, 2, 23, 2, 26).getTime()) * 1_000_000n + 539_704_700n);
    assert.deepEqual(
      r.map((x) => [x.interfaceIndex, x.appearance, x.direction]),
      [
        [78, 1, Direction.DIRECTION_OUTBOUND],
        [31, 2, Direction.DIRECTION_OUTBOUND],
        [32, 3, Direction.DIRECTION_OUTBOUND],
        [33, 4, Direction.DIRECTION_OUTBOUND],
        [33, 1, Direction.DIRECTION_INBOUND],
      ],
    );
    assert.deepEqual(pktmonCalls(s), [
      'list',
      'filter remove',
      'filter add cnspect1 -i 192.168.0.62 -t TCP SYN',
      'start --capture --comp all --type all --pkt-size 0 --log-mode real-time',
      'stop',
      'filter remove',
    ]);
    assert.equal(s.sessionRunning(), false);
    assert.deepEqual(s.filters(), []);
  });

  it('allows one pktmon session per node: a second capture is refused as busy, runs once the first ended', async () => {
    const { agent } = setup();
    const first = await startCapture(agent, request({ type: CaptureType.CAPTURE_TYPE_FLOW }));
    await assert.rejects(
      startCapture(agent, request()),
      (err: Error & { code?: string }) =>
        err.code === 'CNSPECT_BUSY' && /one pktmon session per node/.test(err.message),
    );
    await first.stop();
    const second = await startCapture(agent, request({ type: CaptureType.CAPTURE_TYPE_DROP, interface: '80' }));
    await second.stop();
    assert.ok(pktmonCalls(s!).includes('start --capture --comp all --type flow --pkt-size 0 --log-mode real-time'));
    assert.ok(pktmonCalls(s!).includes('start --capture --comp 80 --type drop --pkt-size 0 --log-mode real-time'));
  });

  it('when pktmon dies mid-capture: the session ends with its error, pktmon stopped, filters removed', async () => {
    const { s, agent } = setup({ crashExit: 3 });
    const cap = await startCapture(agent, request({ tokens: { ports: ['443'] } }));
    await waitFor(() => records(cap.events).length >= 5, 'the recorded packets');
    writeFileSync(join(s.dir, 'crash-now'), '');
    const summary = await cap.summary;
    assert.equal(summary.reason, StopReason.STOP_REASON_ERROR);
    assert.equal(summary.errorCode, 'CNSPECT_TOOL_FAILED');
    assert.match(summary.errorMessage, /pktmon exited with 3/);
    assert.equal(records(cap.events).length, 5, 'what was captured before the crash is kept');
    assert.deepEqual(pktmonCalls(s).slice(-2), ['stop', 'filter remove']);
    assert.deepEqual(s.filters(), []);
    assert.equal(s.sessionRunning(), false, 'the session the crash left is stopped');
    // The node is free again.
    assert.equal((await agent.info()).runningSessions, 0);
  });

  it('refuses what pktmon cannot express before running anything', async () => {
    const { s, agent } = setup();
    await assert.rejects(
      startCapture(agent, request({ tokens: { ips: ['10.0.0.1', '10.0.0.2', '10.0.0.3'], ports: ['1', '2', '3'] } })),
      { code: 'CNSPECT_FILTER_UNSUPPORTED' },
    );
    await assert.rejects(
      startCapture(agent, request({ interface: 'eth0' })),
      (err: Error & { code?: string }) => err.code === 'CNSPECT_BAD_REQUEST' && /pktmon component id/.test(err.message),
    );
    await assert.rejects(startCapture(agent, request({ netns: 'pod1' })), { code: 'CNSPECT_UNSUPPORTED' });
    assert.deepEqual(s.calls(), []);
  });

  it('a pktmon that will not start (a session of someone else) fails clearly and leaves no filters', async () => {
    const { s, agent } = setup();
    writeFileSync(join(s.dir, 'session.json'), '{}');
    await assert.rejects(
      startCapture(agent, request({ tokens: { ports: ['53'] } })),
      (err: Error & { code?: string }) =>
        err.code === 'CNSPECT_TOOL_FAILED' &&
        /already running/.test(err.message) &&
        /pktmon stop/.test(String((err as { hint?: string }).hint)),
    );
    assert.deepEqual(s.filters(), []);
    assert.equal((await agent.info()).runningSessions, 0);
  });

  it('at agent start, ends the session and removes the filters and files a killed agent left behind', async () => {
    const { s } = setup();
    writeFileSync(join(s.dir, 'session.json'), '{}');
    writeFileSync(join(s.dir, 'filters.json'), JSON.stringify([['cnspect1', '-p', '53']]));
    mkdirSync(s.tools.workDir, { recursive: true });
    writeFileSync(join(s.tools.workDir, 'cnspect-dead.etl'), 'x');
    const done = await new PktmonBackend(s.tools).cleanupLeftovers();
    assert.equal(s.sessionRunning(), false);
    assert.deepEqual(s.filters(), []);
    assert.equal(existsSync(join(s.tools.workDir, 'cnspect-dead.etl')), false);
    assert.equal(done.length, 3);
    assert.deepEqual(pktmonCalls(s), ['stop', 'filter remove']);
  });

  it("finds pods' pktmon components via HNS (IP → endpoint MAC → `pktmon list` id), refuses remote ones", async () => {
    const endpoints = hnsObjects(
      parseConcatenatedJson(windowsFixture('hns-endpoint/flannel-remote-endpoint-convertto-json.json')),
    );
    const components = parsePktmonList(windowsFixture('pktmon-list/msquic-tsg-pktmon-list-network-adapters.txt'));
    const pod = { namespace: 'default', name: 'web', ips: ['10.244.2.141'] };
    assert.throws(
      () => podComponents([pod], endpoints, components, 'win-node'),
      (err: Error & { code?: string }) =>
        err.code === 'CNSPECT_POD_NOT_FOUND' &&
        /MAC 0E-2A-0A-F4-02-8D/.test(err.message) &&
        /remote endpoint/.test(String((err as { hint?: string }).hint)),
    );
    assert.throws(
      () => podComponents([{ ...pod, ips: ['10.9.9.9'] }], endpoints, components, 'win-node'),
      /no HNS endpoint on win-node has IP 10\.9\.9\.9/,
    );
    // The same endpoint against a component list holding its MAC (as pktmon lists a local vNIC).
    assert.deepEqual(
      podComponents([pod], endpoints, [...components, { id: 131, mac: '0E-2A-0A-F4-02-8D', name: 'vNIC' }], 'win-node'),
      [131],
    );
    // Through the agent: the pod's endpoint is remote on this node, so nothing starts.
    const { s, agent } = setup();
    await assert.rejects(startCapture(agent, request({ pods: [pod] })), { code: 'CNSPECT_POD_NOT_FOUND' });
    assert.deepEqual(
      s.calls().map((c) => c.slice(0, 3).join(' ')),
      ['pktmon list', 'hnsdiag list endpoints'],
    );
  });

  it('with -w, captures to an ETL file and streams the packets of its etl2pcap conversion when stopped', async () => {
    const work = mkdtempSync(join(tmpdir(), 'cnspect-etl-'));
    try {
      const pcapng = await loopbackIcmpPcapng(work, 6);
      const { s, agent } = setup({}, { pcapng });
      const cap = await startCapture(
        agent,
        request({ needPacketBytes: true, snaplenBytes: 128, tokens: { protocols: ['ICMP'] } }),
      );
      const etl = join(s.tools.workDir, (/cnspect-[0-9a-f]+\.etl/.exec(cap.started.capturePoint) ?? [''])[0]);
      assert.ok(existsSync(etl), `pktmon writes ${etl}`);
      const summary = await cap.stop();
      assert.equal(summary.reason, StopReason.STOP_REASON_STOPPED);
      assert.equal(cap.packets.length, 6);
      assert.ok(cap.decoded().every(({ d }) => d.l4Proto === 1));
      assert.equal(existsSync(etl), false, 'the ETL is removed once converted');
      const calls = pktmonCalls(s);
      assert.match(
        calls.find((c) => c.startsWith('start'))!,
        new RegExp(
          '^start --capture --comp all --type all --pkt-size 128 ' +
            String.raw`--file-name \S+cnspect-[0-9a-f]+\.etl --file-size 512 --log-mode circular$`,
        ),
      );
      assert.deepEqual(
        calls.slice(-3).map((c) => c.split(' ')[0]),
        ['stop', 'etl2pcap', 'filter'],
      );
      const notices = cap.events.flatMap((e) => (e.event?.$case === 'notice' ? [e.event.value.code] : []));
      assert.deepEqual(notices, ['CNSPECT_FILE_MODE', 'CNSPECT_CONVERTING']);
      assert.equal(decode(cap.started.linkType, cap.packets[0]!.data).etherType, 0x0800);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('when the conversion fails, the session reports it and keeps the ETL on the node', async () => {
    const { s, agent } = setup({ etl2pcapFails: true });
    const cap = await startCapture(agent, request({ needPacketBytes: true }));
    const summary = await cap.stop();
    assert.equal(summary.reason, StopReason.STOP_REASON_ERROR);
    assert.match(summary.errorMessage, /converting the pktmon log to pcapng failed.*kept on the node in \S+\.etl/);
    const etl = /in (\S+\.etl)\)/.exec(summary.errorMessage)![1]!;
    assert.ok(existsSync(etl));
    assert.deepEqual(s.filters(), []);
  });
});
