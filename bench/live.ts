// Live benchmark: `cnspect capture local` (agent → client → pcapng) and a bare tcpdump with the
// same options, both capturing the same UDP flood between two namespaces at the same time.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeNetnsPair, inNs } from '../test/helpers/netns.js';
import { waitFor } from '../test/helpers/wait.js';
import { parseTcpdumpStats, TCPDUMP_BUFFER_KIB } from '../src/backends/linux/tcpdump.js';

const BIN = fileURLToPath(new URL('../../bin/cnspect.js', import.meta.url));
const FLOOD = fileURLToPath(new URL('../../bench/flood.mjs', import.meta.url));
export const FLOOD_PACKETS = Number(process.env.BENCH_FLOOD ?? 300_000);

function collect(child: ChildProcess): { text: () => string; exit: Promise<number | null> } {
  let text = '';
  child.stderr!.on('data', (d: Buffer) => {
    text += d.toString();
  });
  child.stdout!.on('data', () => undefined);
  return { text: () => text, exit: new Promise((r) => child.once('close', r)) };
}

export async function liveBench(): Promise<Record<string, number | string>> {
  const net = makeNetnsPair();
  const children: ChildProcess[] = [];
  try {
    const bare = spawn(
      'ip',
      [
        'netns',
        'exec',
        net.b,
        'tcpdump',
        '--immediate-mode',
        '-U',
        '-B',
        String(TCPDUMP_BUFFER_KIB),
        '--time-stamp-precision',
        'nano',
        '-n',
        '-s',
        '262144',
        '-i',
        'eth0',
        '-w',
        '/dev/null',
        'udp and port 9000',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const ours = spawn(
      process.execPath,
      [BIN, 'capture', 'local', '--netns', net.b, '--interface', 'eth0', '-t', 'UDP', '-r', '9000', '-w', '/dev/null'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(bare, ours);
    const b = collect(bare);
    const o = collect(ours);
    await waitFor(
      () => b.text().includes('listening on') && o.text().includes('capturing'),
      'both captures to start',
      15_000,
    );
    // Static neighbour entry so no ARP packet lands in either count.
    inNs(net.a, ['ip', 'neigh', 'replace', net.ipB, 'lladdr', net.macB, 'dev', 'eth0']);
    const start = Date.now();
    inNs(net.a, ['node', FLOOD, net.ipB, '9000', String(FLOOD_PACKETS)]);
    const floodSeconds = (Date.now() - start) / 1000;
    // Let both drain what the kernel already holds (their own figures stop moving), then stop.
    await new Promise((r) => setTimeout(r, 1500));
    bare.kill('SIGINT');
    ours.kill('SIGINT');
    await Promise.all([b.exit, o.exit]);
    const bareStats = parseTcpdumpStats(b.text());
    const oursCount = Number(/: (\d+) packets, \d+ bytes captured/.exec(o.text())?.[1] ?? NaN);
    const kernelDrops = Number(/, (\d+) dropped by kernel/.exec(o.text())?.[1] ?? 0);
    return {
      flood_packets: FLOOD_PACKETS,
      flood_seconds: +floodSeconds.toFixed(2),
      flood_packets_per_s: Math.round(FLOOD_PACKETS / floodSeconds),
      tcpdump_captured: bareStats?.captured ?? NaN,
      tcpdump_kernel_drops: bareStats?.droppedByKernel ?? NaN,
      cnspect_captured: oursCount,
      cnspect_kernel_drops: kernelDrops,
      ratio_to_tcpdump: +(oursCount / (bareStats?.captured ?? NaN)).toFixed(4),
    };
  } finally {
    for (const c of children) c.kill('SIGKILL');
    net.destroy();
  }
}
