// Drop tracing overhead: how fast a sender floods a closed UDP port (every datagram dropped as
// NO_SOCKET) with and without a drop capture running, alternating in the same run.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeNetnsPair } from '../test/helpers/netns.js';
import { startDropCapture } from '../src/backends/linux/drop-capture.js';
import { emptyFilter } from '../src/packet/filter.js';

const FLOOD = fileURLToPath(new URL('../../bench/flood.mjs', import.meta.url));
export const DROP_FLOOD_PACKETS = Number(process.env.BENCH_DROP_FLOOD ?? 200_000);

export async function dropsBench(): Promise<Record<string, number>> {
  const net = makeNetnsPair();
  try {
    const flood = (): number => {
      const start = process.hrtime.bigint();
      execFileSync('ip', ['netns', 'exec', net.a, process.execPath, FLOOD, net.ipB, '9999', String(DROP_FLOOD_PACKETS)], { stdio: 'ignore' });
      return DROP_FLOOD_PACKETS / (Number(process.hrtime.bigint() - start) / 1e9);
    };
    flood(); // warm-up (ARP, JIT)
    const off: number[] = [];
    const on: number[] = [];
    let seen = 0;
    for (let i = 0; i < 3; i++) {
      off.push(flood());
      const handle = await startDropCapture({ filter: emptyFilter(), type: 3, snaplen: 0, interface: 'any', netns: '', pods: [], inPod: false, needPacketBytes: false, node: 'bench' },
        { packet: () => undefined, drops: (d) => { seen += d.length; } });
      on.push(flood());
      await handle.stop();
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1]!;
    return {
      flood_packets: DROP_FLOOD_PACKETS,
      sender_pps_without_drop_capture: Math.round(median(off)),
      sender_pps_with_drop_capture: Math.round(median(on)),
      ratio_with_to_without: +(median(on) / median(off)).toFixed(3),
      drop_records_reported: seen,
    };
  } finally {
    net.destroy();
  }
}
