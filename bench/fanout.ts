// Fan-out start-up: time from launching `cnspect capture all` to the first packet, and to a
// packet from every node, on labs of 1, 4 and 8 nodes with steady traffic on every node.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { labDown, labUp } from '../src/lab/lab.js';
import { forEachLine } from '../src/process/lines.js';

const BIN = fileURLToPath(new URL('../../bin/cnspect.js', import.meta.url));

async function once(nodes: number): Promise<{ firstMs: number; allMs: number }> {
  const name = `bf${nodes}`;
  const lab = await labUp({ name, nodes, podsPerNode: 1, network: 'bridge', agentPort: 50051 });
  const pingers: ChildProcess[] = [];
  try {
    for (const n of lab.plan.nodes) {
      const pod = lab.plan.pods.find((p) => p.node === n.name && !p.routed)!;
      pingers.push(
        spawn('ip', ['netns', 'exec', pod.netns, 'ping', '-q', '-i', '0.01', n.gatewayIp], { stdio: 'ignore' }),
      );
    }
    const start = process.hrtime.bigint();
    const cli = spawn(
      process.execPath,
      [BIN, 'capture', 'all', '--inventory', lab.inventoryPath, '-t', 'ICMP', '-o', 'json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const seen = new Set<string>();
    let firstMs = NaN;
    const allMs = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not every node delivered a packet within 30 s (${seen.size}/${nodes})`)),
        30_000,
      );
      forEachLine(cli.stdout!, (line) => {
        if (!line.includes('"type":"packet"')) return;
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        if (Number.isNaN(firstMs)) firstMs = ms;
        seen.add((JSON.parse(line) as { node: string }).node);
        if (seen.size === nodes) {
          clearTimeout(timer);
          resolve(ms);
        }
      });
    });
    cli.kill('SIGINT');
    await new Promise((r) => cli.once('close', r));
    return { firstMs, allMs };
  } finally {
    for (const p of pingers) p.kill('SIGKILL');
    await labDown(name);
  }
}

export async function fanoutBench(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const n of [1, 4, 8]) {
    // Median of three, each on a fresh lab.
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await once(n));
    const median = (xs: number[]): number => xs.sort((a, b) => a - b)[1]!;
    out[`nodes_${n}_first_packet_ms`] = Math.round(median(runs.map((r) => r.firstMs)));
    out[`nodes_${n}_all_nodes_ms`] = Math.round(median(runs.map((r) => r.allMs)));
  }
  out.ratio_8_to_1_all_nodes = +(out.nodes_8_all_nodes_ms! / out.nodes_1_all_nodes_ms!).toFixed(2);
  return out;
}
