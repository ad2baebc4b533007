// `cnspect capture local` end to end: real traffic in test namespaces, output lines, a pcapng
// checked by tshark, live counters from another command, Ctrl+C and a killed CLI.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type SpawnOptions } from 'node:child_process';
import { localSocketPath } from '../src/contract/local-socket.js';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inNs, makeNetnsPair, sh, tcpdumpPidsIn, waitNoTcpdump, type NetnsPair } from './helpers/netns.js';
import { runCli } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';

const BIN = fileURLToPath(new URL('../../bin/cnspect.js', import.meta.url));

function tshark(file: string, fields: string[]): string[][] {
  const out = sh(['tshark', '-r', file, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])]);
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t'));
}

describe('cnspect capture local', () => {
  let net: NetnsPair;
  let dir: string;

  before(() => {
    net = makeNetnsPair();
    dir = mkdtempSync(join(tmpdir(), 'cnspect-cli-'));
  });
  // A CLI killed outright cannot remove its local socket: the suite does.
  const pids: number[] = [];
  const spawnCliProcess = (args: string[], options: SpawnOptions) => {
    const child = spawn(process.execPath, [BIN, ...args], options);
    if (child.pid) pids.push(child.pid);
    return child;
  };
  after(() => {
    net.destroy();
    rmSync(dir, { recursive: true, force: true });
    for (const pid of pids) rmSync(localSocketPath(pid), { force: true });
  });

  const ping = (count: number): void => {
    inNs(net.a, ['ping', '-c', String(count), '-i', '0.01', net.ipB]);
  };

  it('writes JSON lines and a pcapng that tshark reads back exactly', async () => {
    const file = join(dir, 'icmp.pcapng');
    const run = runCli(['capture', 'local', '--netns', net.b, '-t', 'ICMP', '-w', file, '-o', 'json']);
    await waitFor(() => run.err().includes('capturing'), 'the capture to start');
    ping(20);
    await waitFor(
      () =>
        run
          .out()
          .split('\n')
          .filter((l) => l.includes('"type":"packet"')).length >= 40,
      '40 packet lines',
    );
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 0);
    const lines = run
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const packets = lines.filter((l) => l.type === 'packet');
    assert.equal(packets.length, 40);
    assert.equal(lines[0]!.type, 'started');
    assert.equal(lines.at(-1)!.type, 'summary');
    assert.equal(lines.at(-1)!.reason, 'stopped');
    const first = packets[0]!;
    assert.equal(first.interface, 'eth0');
    assert.equal(first.protocol, 'ICMP');
    assert.equal(first.src, net.ipA);
    assert.equal(first.dst, net.ipB);
    assert.equal(first.direction, 'in');
    assert.equal(first.length, 104, 'LINUX_SLL2 header (20) + IPv4 (20) + ICMP (64)');
    assert.match(String(first.info), /^echo request, id \d+, seq 1$/);
    assert.equal(packets.filter((p) => p.direction === 'out').length, 20);

    const rows = tshark(file, [
      'frame.interface_name',
      'ip.src',
      'ip.dst',
      'frame.time_epoch',
      'frame.len',
      'frame.cap_len',
      'icmp.type',
    ]);
    assert.equal(rows.length, 40);
    assert.ok(
      rows.every((r) => r[0] === `${hostname()}/eth0`),
      `interface names: ${rows[0]![0]}`,
    );
    assert.deepEqual(
      new Set(rows.map((r) => `${r[1]}>${r[2]}`)),
      new Set([`${net.ipA}>${net.ipB}`, `${net.ipB}>${net.ipA}`]),
    );
    const times = rows.map((r) => Number(r[3]));
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! >= times[i - 1]!, 'timestamps increase');
    assert.ok(Math.abs(times[0]! - Date.now() / 1000) < 120, 'timestamps are wall-clock epoch seconds');
    assert.ok(
      rows.every((r) => r[4] === r[5]),
      'whole packets kept (original length = captured length)',
    );
    assert.equal(rows.filter((r) => r[6] === '8').length, 20);
    // Nanosecond resolution is declared on the interface.
    assert.match(sh(['tshark', '-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-c', '1']), /^\d+\.\d{9}\n$/);
  });

  it('prints one text line per packet and a counters table with --counters-only', async () => {
    const text = runCli(['capture', 'local', '--netns', net.b, '-t', 'icmp', '-d', '30', '--max-packets', '6']);
    await waitFor(() => text.err().includes('capturing'), 'the capture to start');
    ping(3);
    assert.equal(await text.exit, 0);
    const lines = text.out().trim().split('\n');
    assert.equal(lines.length, 6);
    assert.match(
      lines[0]!,
      new RegExp(
        `^\\d\\d:\\d\\d:\\d\\d\\.\\d{9} eth0 in ICMP ${net.ipA.replace(/\./g, '\\.')} > ` +
          `${net.ipB.replace(/\./g, '\\.')} len 104: echo request, id \\d+, seq 1$`,
      ),
    );
    assert.match(text.err(), /6 packets, 624 bytes captured \(max_packets\)/);

    const counting = runCli(['capture', 'local', '--netns', net.b, '-t', 'ICMP', '--counters-only']);
    await waitFor(() => counting.err().includes('capturing'), 'the capture to start');
    ping(5);
    // Live counters of the running capture, read by another command through the local socket.
    await waitFor(async () => {
      const c = runCli(['counter', '-o', 'json']);
      await c.exit;
      const sessions = JSON.parse(c.out() || '[]') as Array<{
        counters?: { packets: number; interfaces: Array<{ interface: string; rxPackets: number }> };
      }>;
      return sessions.some(
        (s) =>
          s.counters?.packets === 10 && s.counters.interfaces.some((i) => i.interface === 'eth0' && i.rxPackets === 5),
      );
    }, 'cnspect counter to show 10 packets');
    counting.signals.emit('SIGINT');
    assert.equal(await counting.exit, 0);
    assert.match(counting.out(), /NODE\s+INTERFACE\s+RX PKTS\s+RX BYTES\s+TX PKTS\s+TX BYTES/);
    assert.match(counting.out(), /eth0\s+5\s+520\s+5\s+520/);
    assert.doesNotMatch(counting.out(), /echo request/);

    // With -o json every stdout line is one typed JSON record, the counters included.
    const json = runCli([
      'capture',
      'local',
      '--netns',
      net.b,
      '-t',
      'ICMP',
      '--counters-only',
      '-o',
      'json',
      '--max-packets',
      '4',
    ]);
    await waitFor(() => json.err().includes('capturing'), 'the capture to start');
    ping(2);
    assert.equal(await json.exit, 0, json.err());
    const records = json
      .out()
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            type: string;
            interfaces?: Array<{ interface: string; rxPackets: number; txPackets: number }>;
          },
      );
    assert.deepEqual(
      records.map((r) => r.type),
      ['started', 'summary', 'counters'],
    );
    assert.deepEqual(
      records[2]!.interfaces!.map((i) => [i.interface, i.rxPackets, i.txPackets]),
      [['eth0', 2, 2]],
    );
  });

  it('stops cleanly on Ctrl+C of the real process and keeps the pcapng valid', async () => {
    const file = join(dir, 'sigint.pcapng');
    const child = spawnCliProcess(['capture', 'local', '--netns', net.b, '-t', 'ICMP', '-w', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      await waitFor(() => err.includes('capturing'), 'the capture to start');
      ping(4);
      await waitFor(async () => {
        const c = runCli(['counter', '-o', 'json']);
        await c.exit;
        return (JSON.parse(c.out() || '[]') as Array<{ counters?: { packets: number } }>).some(
          (x) => x.counters?.packets === 8,
        );
      }, 'the running capture to count 8 packets');
      child.kill('SIGINT');
      assert.equal(await exited, 0);
      assert.match(err, /8 packets, \d+ bytes captured \(stopped\)\n8 packets written to/);
      assert.equal(tshark(file, ['frame.number']).length, 8);
      await waitNoTcpdump(net.b);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('leaves no tcpdump behind when the CLI is killed outright', async () => {
    const child = spawnCliProcess(['capture', 'local', '--netns', net.b], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    try {
      await waitFor(() => err.includes('capturing'), 'the capture to start');
      assert.equal(tcpdumpPidsIn(net.b).length, 1);
      child.kill('SIGKILL');
      await waitNoTcpdump(net.b);
    } finally {
      child.kill('SIGKILL');
    }
  });

  /** The real CLI as a child process, with its stderr kept. */
  const spawnCli = (args: string[]) => {
    const child = spawnCliProcess([...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    return { child, err: () => err, exited };
  };
  const packetsIn = (file: string): number => {
    try {
      return tshark(file, ['frame.number']).length;
    } catch {
      return -1;
    }
  };

  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    it(`stops on ${signal} like Ctrl+C: final counts, exit 0, every packet in the file`, async () => {
      const file = join(dir, `${signal}.pcapng`);
      const cli = spawnCli(['capture', 'local', '--netns', net.b, '-t', 'ICMP', '-w', file]);
      try {
        await waitFor(() => cli.err().includes('capturing'), 'the capture to start');
        ping(3);
        // Packets are on disk while the capture still runs (written per batch, not per MiB).
        await waitFor(() => packetsIn(file) === 6, 'the 6 packets to reach the file before any stop');
        cli.child.kill(signal);
        assert.equal(await cli.exited, 0, cli.err());
        assert.match(cli.err(), /6 packets, \d+ bytes captured \(stopped\)\n6 packets written to/);
        assert.equal(packetsIn(file), 6);
        await waitNoTcpdump(net.b);
      } finally {
        cli.child.kill('SIGKILL');
      }
    });
  }

  it('keeps a readable file with everything captured when killed with SIGKILL', async () => {
    const file = join(dir, 'sigkill.pcapng');
    const cli = spawnCli(['capture', 'local', '--netns', net.b, '-t', 'ICMP', '-w', file]);
    try {
      await waitFor(() => cli.err().includes('capturing'), 'the capture to start');
      ping(4);
      await waitFor(() => packetsIn(file) === 8, 'the 8 packets to reach the file');
      cli.child.kill('SIGKILL');
      await cli.exited;
      assert.equal(packetsIn(file), 8, 'tshark reads all 8 packets after the kill');
      await waitNoTcpdump(net.b);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('ends cleanly when stdout is closed (| head): exit 0, no stack trace, the file complete', async () => {
    const file = join(dir, 'epipe.pcapng');
    const child = spawnCliProcess(['capture', 'local', '--netns', net.b, '-t', 'ICMP', '-w', file, '-o', 'text'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    let firstLine = false;
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.stdout!.once('data', () => {
      firstLine = true;
      child.stdout!.destroy();
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      await waitFor(() => err.includes('capturing'), 'the capture to start');
      ping(2);
      await waitFor(() => firstLine, 'the first packet line');
      // More lines hit the closed pipe: that ends the capture like Ctrl+C.
      await waitFor(() => {
        ping(1);
        return err.includes('written to');
      }, 'the capture to stop on EPIPE');
      assert.equal(await exited, 0, err);
      assert.doesNotMatch(err, /Error|at .*\.js:\d+/);
      const written = Number(/(\d+) packets written to/.exec(err)![1]);
      assert.ok(written >= 4);
      assert.equal(packetsIn(file), written);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses to overwrite an existing file without --force, and a refused capture leaves it untouched', async () => {
    const file = join(dir, 'keep.pcapng');
    writeFileSync(file, 'precious');
    const refused = runCli(['capture', 'local', '--netns', net.b, '-w', file]);
    assert.equal(await refused.exit, 2);
    assert.match(
      refused.err(),
      /CNSPECT_FILE: cannot write .*keep\.pcapng: the file exists\n {2}hint: pass --force \(-f\)/,
    );
    // --force with a capture the agent refuses (the filter can never match): the file is not touched.
    const never = runCli(['capture', 'local', '--netns', net.b, '-r', '53', '-t', 'ICMP', '-w', file, '--force']);
    assert.equal(await never.exit, 2);
    assert.match(never.err(), /CNSPECT_FILTER_NEVER_MATCHES/);
    assert.equal(readFileSync(file, 'utf8'), 'precious');
    const fresh = join(dir, 'never-created.pcapng');
    const missing = runCli(['capture', 'local', '--netns', `${net.b}-missing`, '-w', fresh]);
    assert.notEqual(await missing.exit, 0);
    assert.equal(existsSync(fresh), false, 'no empty file is left behind');
    // With --force a started capture replaces it.
    const forced = runCli(['capture', 'local', '--netns', net.b, '-t', 'ICMP', '-w', file, '-f', '--max-packets', '2']);
    await waitFor(() => forced.err().includes('capturing'), 'the capture to start');
    ping(1);
    assert.equal(await forced.exit, 0, forced.err());
    assert.equal(packetsIn(file), 2);
  });

  it('a stop that comes before the capture started is a clean stop', async () => {
    const run = runCli(['capture', 'local', '--netns', net.b, '-t', 'ICMP']);
    await waitFor(() => run.signals.listenerCount('SIGINT') > 0, 'the capture to listen for Ctrl+C');
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 0, run.err());
    assert.match(run.err(), new RegExp(`${hostname()}: stopped before the capture started`));
    assert.doesNotMatch(run.err(), /FAILED|CNSPECT_NODE_FAILED/);
    await waitNoTcpdump(net.b);
  });

  it('refuses an unwritable -w path before capturing', async () => {
    const run = runCli(['capture', 'local', '--netns', net.b, '-w', join(dir, 'no', 'such', 'dir.pcapng')]);
    assert.equal(await run.exit, 2);
    assert.match(run.err(), /CNSPECT_FILE: cannot write/);
    assert.equal(existsSync(join(dir, 'no')), false);
    assert.equal(tcpdumpPidsIn(net.b).length, 0);
  });
});
