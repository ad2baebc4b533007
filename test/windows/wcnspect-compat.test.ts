// --server-kind wcnspect: the same commands against a server implementing wcnspect's proto.
import { windowsFixture } from '../helpers/windows-fixtures.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PacketType } from '../../src/gen/wcnspect/captures.js';
import { HCNType } from '../../src/gen/wcnspect/hcn.js';
import { toWcnspectRequest } from '../../src/cluster/wcnspect-client.js';
import { planCapture } from '../../src/cli/capture.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { startWcnspectServer, type WcnspectDouble } from '../helpers/wcnspect-server.js';

const fixture = windowsFixture;

describe('wcnspect compatibility', () => {
  let srv: WcnspectDouble;
  let dir: string;
  let inv: string;
  const lines = fixture('pktmon-realtime/rosesecurity-etw-realtime-tcp-syn.txt').split(/\r?\n/).filter(Boolean);

  before(async () => {
    srv = await startWcnspectServer(lines, fixture('hns-endpoint/flannel-remote-endpoint-convertto-json.json'));
    dir = mkdtempSync(join(tmpdir(), 'cnspect-wcn-'));
    inv = join(dir, 'inventory.yaml');
    writeFileSync(
      inv,
      `nodes:\n  - {name: win-1, address: "${srv.address}", os: windows}\npods:\n  - {name: web, namespace: ` +
        `default, node: win-1, ips: [10.244.3.7]}\n`,
    );
  });
  after(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("translates the filter model into wcnspect's request, refusing what it would misread", () => {
    const plan = planCapture('pods', 'web', {
      inventory: inv,
      serverKind: 'wcnspect',
      ips: ['10.0.0.0/24'],
      protocols: ['TCP_SYN', 'ICMPv6'],
      ports: ['443'],
      macs: ['aa:bb:cc:dd:ee:ff'],
      time: '10',
      type: 'DROP',
    });
    const req = toWcnspectRequest(
      { ...plan.request, pods: [{ namespace: 'default', name: 'web', ips: ['10.244.3.7'] }] },
      1_700_000_000_500,
    );
    assert.deepEqual(
      { ...req, timestamp: undefined },
      {
        duration: 10,
        timestamp: undefined,
        modifier: { pods: ['10.244.3.7'], packetType: PacketType.drop, countersOnly: false },
        filter: { ips: ['10.0.0.0/24'], protocols: ['TCP_SYN', 'ICMPv6'], ports: ['443'], macs: ['AA-BB-CC-DD-EE-FF'] },
      },
    );
    assert.throws(
      () => toWcnspectRequest(planCapture('all', undefined, { inventory: inv, ports: ['80-90'] }).request),
      /single ports, not the range 80-90/,
    );
    assert.throws(
      () => toWcnspectRequest(planCapture('all', undefined, { inventory: inv, protocols: ['TCP_SYN_ACK'] }).request),
      /one TCP flag per protocol/,
    );
    assert.throws(() => planCapture('all', undefined, { inventory: inv, serverKind: 'wcnspect', write: 'x.pcapng' }), {
      code: 'CNSPECT_UNSUPPORTED',
    });
    assert.throws(
      () => planCapture('all', undefined, { inventory: inv, serverKind: 'winspect' }),
      /--server-kind: "winspect"; allowed: cnspect, wcnspect/,
    );
  });

  it("capture pods streams the server's pktmon lines as typed records, and Ctrl+C stops the server", async () => {
    const run = runCli([
      'capture',
      'pods',
      'web',
      '--inventory',
      inv,
      '--server-kind',
      'wcnspect',
      '-t',
      'TCP_SYN',
      '-o',
      'json',
    ]);
    await waitFor(() => run.out().split('\n').filter(Boolean).length >= lines.length - 2, "the server's lines");
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 0, run.err());
    const recs = run
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const packets = recs.filter((r) => r.type === 'packet');
    assert.deepEqual(
      packets.map((r) => [r.component, r.direction]),
      [
        [78, 'Tx'],
        [31, 'Tx'],
        [32, 'Tx'],
        [33, 'Tx'],
        [33, 'Rx'],
      ],
    );
    assert.deepEqual(
      [packets[0]!.node, packets[0]!.pktGroupId, packets[0]!.component, packets[0]!.frameType, packets[0]!.direction],
      ['win-1', '562949953421500', 78, 'Ethernet', 'Tx'],
    );
    assert.ok(
      recs.some((r) => r.type === 'line' && /Flags \[S\]/.test(String(r.text))),
      'decode lines kept as text',
    );
    assert.deepEqual(srv.captures.at(-1)!.modifier, {
      pods: ['10.244.3.7'],
      packetType: PacketType.all,
      countersOnly: false,
    });
    assert.deepEqual(srv.captures.at(-1)!.filter!.protocols, ['TCP_SYN']);
  });

  it('counter, vfp-counter and hns ask the wcnspect server and print its answers per node', async () => {
    const c = runCli(['counter', '--inventory', inv, '--server-kind', 'wcnspect', '-i']);
    assert.equal(await c.exit, 0, c.err());
    assert.equal(c.out(), '== win-1\ncounters (include hidden: true)\n');
    const v = runCli(['vfp-counter', '-p', 'default/web', '--inventory', inv, '--server-kind', 'wcnspect', '-d']);
    assert.equal(await v.exit, 0, v.err());
    assert.match(v.out(), /VFP counters of 10\.244\.3\.7/);
    assert.deepEqual(srv.vfp.at(-1), { pod: '10.244.3.7', verbose: true });
    const h = runCli(['hns', 'endpoints', '--inventory', inv, '--server-kind', 'wcnspect', '-d']);
    assert.equal(await h.exit, 0, h.err());
    assert.match(h.out(), /"Name":\s+"remote_10\.244\.2\.141"/);
    assert.deepEqual(srv.hcn.at(-1), { hcntype: HCNType.endpoints, verbose: true });
  });

  it('names an unreachable wcnspect server', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'nodes:\n  - {name: gone, address: "127.0.0.1:9", os: windows}\n');
    const run = runCli(['counter', '--inventory', bad, '--server-kind', 'wcnspect']);
    assert.equal(await run.exit, 4);
    assert.match(run.err(), /gone: FAILED \[gone\] CNSPECT_AGENT_UNREACHABLE/);
  });
});
