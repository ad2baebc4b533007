// A Windows agent end to end: `cnspect agent --backend windows` (stand-ins replaying real pktmon
// and hnsdiag output) behind mutual TLS, driven by the CLI from an inventory; the pcapng it writes
// is read back with tshark; SIGTERM to the agent mid-capture leaves no pktmon session or filter.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initCertificates } from '../../src/tls/certs.js';
import { agentFilesIn, clientFilesIn } from '../../src/tls/material.js';
import { runCli } from '../helpers/cli.js';
import { loopbackIcmpPcapng, makeStandIns, type StandIns } from '../helpers/standins.js';
import { waitFor } from '../helpers/wait.js';

const BIN = fileURLToPath(new URL('../../../bin/cnspect.js', import.meta.url));

describe('Windows agent through the CLI (stand-ins for the Windows tools)', () => {
  let dir: string;
  let s: StandIns;
  let agent: ChildProcess;
  let agentErr = '';
  let inventory: string;
  let pcapng: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cnspect-winagent-'));
    pcapng = await loopbackIcmpPcapng(dir, 4);
    s = makeStandIns({}, { pcapng });
    const tls = join(dir, 'tls');
    await initCertificates(tls, ['127.0.0.1']);
    const a = agentFilesIn(tls);
    agent = spawn(
      process.execPath,
      [
        BIN,
        'agent',
        '--listen',
        '127.0.0.1:0',
        '--tls-cert',
        a.cert,
        '--tls-key',
        a.key,
        '--tls-ca',
        a.ca,
        '--node-name',
        'win1',
        '--backend',
        'windows',
        '--windows-tools',
        s.dir,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    agent.stderr!.setEncoding('utf8');
    agent.stderr!.on('data', (t: string) => {
      agentErr += t;
    });
    const port = await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(agentErr)?.[1], 'the agent to listen');
    const c = clientFilesIn(tls);
    inventory = join(dir, 'inventory.yaml');
    writeFileSync(
      inventory,
      `tls: {ca: ${c.ca}, cert: ${c.cert}, key: ${c.key}}\nnodes:\n  - {name: win1, address: ` +
        `127.0.0.1:${port}, os: windows}\n`,
    );
  });

  after(async () => {
    if (agent.exitCode === null && agent.signalCode === null) {
      agent.kill('SIGKILL');
      await new Promise((resolve) => agent.once('exit', resolve));
    }
    s.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('cleaned up what a previous agent could have left at its start', () => {
    assert.match(agentErr, /leftover cleanup: pktmon stop/);
    assert.deepEqual(
      s
        .calls()
        .slice(0, 2)
        .map((c) => c.join(' ')),
      ['pktmon stop', 'pktmon filter remove'],
    );
  });

  it("streams pktmon's packets as JSON records named by component", async () => {
    const run = runCli([
      'capture',
      'nodes',
      'win1',
      '--inventory',
      inventory,
      '-o',
      'json',
      '-d',
      '2',
      '--ips',
      '192.168.0.62',
    ]);
    assert.equal(await run.exit, 0, run.err());
    const lines = run
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const packets = lines.filter((l) => l.type === 'packet');
    assert.equal(packets.length, 5);
    assert.deepEqual(
      [
        packets[0]!.node,
        packets[0]!.interface,
        packets[0]!.direction,
        packets[0]!.length,
        packets[0]!.frameType,
        packets[0]!.pktGroupId,
      ],
      ['win1', '78', 'out', 66, 'Ethernet', '562949953421500'],
    );
    assert.match(String(packets[4]!.info), /172\.217\.2\.115\.443 > 192\.168\.0\.62\.65066: Flags \[S\.\]/);
    assert.equal(lines.at(-1)!.type, 'summary');
    assert.equal(s.sessionRunning(), false);
  });

  it(
    'with -w, writes a pcapng Wireshark reads: the ETL converted on the node, interfaces named node/pcapng ' +
      'interface',
    async () => {
      const out = join(dir, 'win.pcapng');
      const run = runCli(['capture', 'nodes', 'win1', '--inventory', inventory, '-d', '1', '-w', out]);
      assert.equal(await run.exit, 0, run.err());
      assert.match(run.err(), /CNSPECT_FILE_MODE/);
      assert.match(run.err(), /CNSPECT_CONVERTING/);
      const tshark = spawnSync('tshark', ['-r', out, '-T', 'fields', '-e', 'frame.interface_name', '-e', 'icmp.type'], {
        encoding: 'utf8',
      });
      assert.equal(tshark.status, 0, tshark.stderr);
      const rows = tshark.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t'));
      assert.equal(rows.length, 4);
      assert.ok(
        rows.every(([iface, type]) => iface === 'win1/pktmon1' && (type === '8' || type === '0')),
        JSON.stringify(rows),
      );
    },
  );

  it('a SIGTERM to the agent mid-capture stops pktmon and removes its filters', async () => {
    const run = runCli(['capture', 'nodes', 'win1', '--inventory', inventory, '-o', 'json', '--ports', '443']);
    await waitFor(() => s.sessionRunning() && s.filters().length === 1, 'the capture to run');
    agent.kill('SIGTERM');
    await waitFor(() => agent.exitCode !== null || agent.signalCode !== null, 'the agent to exit');
    await run.exit;
    assert.equal(s.sessionRunning(), false);
    assert.deepEqual(s.filters(), []);
    assert.deepEqual(
      s
        .calls()
        .slice(-2)
        .map((c) => c.join(' ')),
      ['pktmon stop', 'pktmon filter remove'],
    );
  });
});
