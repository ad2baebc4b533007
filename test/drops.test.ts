// `capture --type drop` on a lab with real drops: a closed UDP port (NO_SOCKET) and an nft drop
// rule inside a pod (NETFILTER_DROP), with reasons, pods, interfaces, counts and filters; and the
// tracefs fallback without bpftrace.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labDown, labUp, type LabState } from '../src/lab/lab.js';
import { startDropCapture } from '../src/backends/linux/drop-capture.js';
import { parseBpftraceLine, parseDropReasons, parseTracePipeLine, dropScript } from '../src/backends/linux/drops.js';
import type { CapturedDrop } from '../src/backends/backend.js';
import { emptyFilter } from '../src/packet/filter.js';
import { runCli } from './helpers/cli.js';
import { inNs, makeNetnsPair } from './helpers/netns.js';
import { waitFor } from './helpers/wait.js';

const TRAFFIC = fileURLToPath(new URL('../../test/fixtures/traffic.mjs', import.meta.url));
type Rec = Record<string, unknown>;
const drops = (text: string): Rec[] =>
  text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Rec)
    .filter((r) => r.type === 'drop');
const total = (list: Rec[]): number => list.reduce((s, r) => s + Number(r.count), 0);

describe('capture --type drop (bpftrace)', () => {
  const name = `td${randomBytes(2).toString('hex')}`;
  let lab: LabState;
  const pod = (n: string) => lab.plan.pods.find((p) => p.name === n)!;

  before(async () => {
    lab = await labUp({ name, nodes: 2, podsPerNode: 2, network: 'bridge', agentPort: 50051 });
    // A NetworkPolicy-like rule inside pod-2-2: drop UDP to port 7000.
    const ns = pod('pod-2-2').netns;
    inNs(ns, ['nft', 'add', 'table', 'inet', 'cnspecttest']);
    inNs(ns, [
      'nft',
      'add',
      'chain',
      'inet',
      'cnspecttest',
      'in',
      '{ type filter hook input priority 0; policy accept; }',
    ]);
    inNs(ns, ['nft', 'add', 'rule', 'inet', 'cnspecttest', 'in', 'udp', 'dport', '7000', 'drop']);
  });
  after(async () => {
    await labDown(name);
  });

  it('reports NO_SOCKET and NETFILTER_DROP with pods, namespace, interface and exact counts, per node', async () => {
    const run = runCli(['capture', 'all', '--inventory', lab.inventoryPath, '--type', 'drop', '-o', 'json']);
    await waitFor(() => (run.err().match(/capturing/g) ?? []).length === 2, 'both nodes to start', 30_000);
    inNs(pod('pod-1-1').netns, ['node', TRAFFIC, 'udp-send', pod('pod-2-1').ip, '9999:5']);
    inNs(pod('pod-1-2').netns, ['node', TRAFFIC, 'udp-send', pod('pod-2-2').ip, '7000:4']);
    await waitFor(() => total(drops(run.out())) >= 9, '9 drops');
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 0, run.err());
    const all = drops(run.out());
    assert.equal(total(all), 9);
    assert.ok(
      all.every((d) => d.node === `${name}-node2`),
      "the drops happen in node2's pods, and only node2 reports them",
    );
    const noSocket = all.filter((d) => d.reason === 'NO_SOCKET');
    assert.equal(total(noSocket), 5);
    assert.deepEqual(
      new Set(noSocket.map((d) => `${d.srcPod}>${d.dstPod}:${d.dstPort}/${d.protocol}@${d.netns}/${d.interface}`)),
      new Set([`default/pod-1-1>default/pod-2-1:9999/UDP@${pod('pod-2-1').netns}/eth0`]),
    );
    const nf = all.filter((d) => d.reason === 'NETFILTER_DROP');
    assert.equal(total(nf), 4);
    assert.ok(
      nf.every((d) => d.dstPod === 'default/pod-2-2' && d.dstPort === 7000 && d.netns === pod('pod-2-2').netns),
    );
    assert.ok(!all.some((d) => d.reason === 'NOT_SPECIFIED'));
    assert.match(
      run.err(),
      new RegExp(
        `drops by node and reason:\\nNODE\\s+DROP ` +
          `REASON\\s+COUNT\\n${name}-node2\\s+NO_SOCKET\\s+5\\n${name}-node2\\s+NETFILTER_DROP\\s+4`,
      ),
    );
  });

  it('applies the capture filters to drops', async () => {
    const run = runCli([
      'capture',
      'nodes',
      `${name}-node2`,
      '--inventory',
      lab.inventoryPath,
      '--type',
      'drop',
      '-r',
      '7000',
      '-t',
      'UDP',
      '-o',
      'json',
    ]);
    await waitFor(() => run.err().includes('capturing'), 'the capture to start', 30_000);
    inNs(pod('pod-1-1').netns, ['node', TRAFFIC, 'udp-send', pod('pod-2-1').ip, '9999:3']);
    inNs(pod('pod-1-2').netns, ['node', TRAFFIC, 'udp-send', pod('pod-2-2').ip, '7000:2']);
    await waitFor(() => total(drops(run.out())) >= 2, '2 drops');
    // The 9999 drops happened first: had the filter let them through, they would be here already.
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 0, run.err());
    const got = drops(run.out());
    assert.equal(total(got), 2);
    assert.ok(got.every((d) => d.reason === 'NETFILTER_DROP' && d.dstPort === 7000));
  });
});

describe('capture --type drop -w', () => {
  it('says drops are not packets and are not written to the file, and still shows them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cnspect-dropw-'));
    const port = 40_000 + (randomBytes(2).readUInt16BE(0) % 20_000); // closed: each datagram is a NO_SOCKET drop
    try {
      const file = join(dir, 'drops.pcapng');
      const run = runCli(['capture', 'local', '--type', 'drop', '-t', 'UDP', '-r', String(port), '-w', file]);
      await waitFor(() => run.err().includes('capturing'), 'the capture to start', 30_000);
      execFileSync(process.execPath, [TRAFFIC, 'udp-send', '127.0.0.1', `${port}:2`]);
      await waitFor(() => run.out().includes(' DROP NO_SOCKET UDP '), 'a drop line');
      run.signals.emit('SIGINT');
      assert.equal(await run.exit, 0, run.err());
      assert.match(
        run.err(),
        new RegExp(`: drop records are not packets: they are not written to ${file.replace(/[.]/g, '\\.')}`),
      );
      assert.match(run.out(), new RegExp(`DROP NO_SOCKET UDP 127\\.0\\.0\\.1:\\d+ > 127\\.0\\.0\\.1:${port}`));
      assert.match(run.err(), /0 packets written to /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('drop reasons and parsers', () => {
  it('reads reason names from the tracepoint format, not from a table of ours', () => {
    const fmt =
      'print fmt: "skbaddr=%p reason: %s", REC->skbaddr, __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" ' +
      '}, { 3, "NO_SOCKET" }, { 12, "NETFILTER_DROP" })\n';
    assert.deepEqual(
      [...parseDropReasons(fmt)],
      [
        [2, 'NOT_SPECIFIED'],
        [3, 'NO_SOCKET'],
        [12, 'NETFILTER_DROP'],
      ],
    );
    assert.throws(() => parseDropReasons('print fmt: "x"'), { code: 'CNSPECT_TOOL_FAILED' });
  });

  it('parses bpftrace per-event and aggregated output, and trace_pipe lines', () => {
    // 10.0.0.1 and 10.0.0.2 as the kernel's __be32 read on little-endian x86: 0x0100000a, 0x0200000a.
    assert.deepEqual(
      parseBpftraceLine('{"type": "printf", "data": "E 16777226 33554442 17 5000 9999 3 4026532532 2\\n"}', 1000),
      [
        {
          timeMs: 1000,
          src: '10.0.0.1',
          dst: '10.0.0.2',
          ipProtocol: 17,
          srcPort: 5000,
          dstPort: 9999,
          reasonCode: 3,
          netnsInode: 4026532532,
          ifindex: 2,
          count: 1,
        },
      ],
    );
    const agg = parseBpftraceLine(
      '{"type": "map", "data": {"@d4": {"16777226,33554442,6,1,80,12,4026532532,3": 356}}}',
      5,
    );
    assert.equal(agg[0]!.src, '10.0.0.1');
    assert.equal(agg[0]!.count, 356);
    assert.equal(agg[0]!.reasonCode, 12);
    assert.deepEqual(
      parseBpftraceLine('{"type": "map", "data": {"@dx": {"3,4026532000,7": 2}}}', 5).map((d) => [
        d.reasonCode,
        d.netnsInode,
        d.ifindex,
        d.count,
        d.src,
      ]),
      [[3, 4026532000, 7, 2, '']],
    );
    assert.deepEqual(parseBpftraceLine('not json', 0), []);
    assert.deepEqual(
      parseTracePipeLine(
        '  node-1 [001] ..s1. 1.2: kfree_skb: skbaddr=0000 rx_sk=0000 protocol=2048 ' +
          'location=udp_queue_rcv_one_skb+0x1 reason: NO_SOCKET',
      ),
      { protocol: 2048, reason: 'NO_SOCKET' },
    );
    assert.match(dropScript(2), /args->reason != 2/);
  });

  it('falls back to a tracefs instance (reasons only) and removes it afterwards', async () => {
    const net = makeNetnsPair();
    const got: CapturedDrop[] = [];
    try {
      const handle = await startDropCapture(
        {
          filter: emptyFilter(),
          type: 3,
          snaplen: 0,
          interface: 'any',
          netns: '',
          pods: [],
          inPod: false,
          needPacketBytes: false,
          node: 'test',
        },
        { packet: () => undefined, drops: (d) => got.push(...d) },
        true,
      );
      assert.match(handle.capturePoint, /tracefs, reasons only/);
      inNs(net.a, ['node', TRAFFIC, 'udp-send', net.ipB, '9999:5']);
      await waitFor(() => got.filter((d) => d.reason === 'NO_SOCKET').length >= 5, '5 NO_SOCKET drops');
      await handle.stop();
      assert.ok(got.every((d) => d.reason !== 'NOT_SPECIFIED' && d.src === ''));
      const { readdirSync } = await import('node:fs');
      assert.deepEqual(
        readdirSync('/sys/kernel/tracing/instances').filter((d) => d.startsWith(`cnspect-${process.pid}-`)),
        [],
      );
      // Filters cannot apply to reason-only records: refused, not ignored.
      await assert.rejects(
        startDropCapture(
          {
            filter: { ...emptyFilter(), ports: [{ first: 53, last: 53 }] },
            type: 3,
            snaplen: 0,
            interface: 'any',
            netns: '',
            pods: [],
            inPod: false,
            needPacketBytes: false,
            node: 'test',
          },
          { packet: () => undefined },
          true,
        ),
        { code: 'CNSPECT_FILTER_UNSUPPORTED' },
      );
    } finally {
      net.destroy();
    }
  });
});
