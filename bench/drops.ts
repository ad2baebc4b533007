// Drop tracing overhead: how fast a sender floods a closed UDP port (every datagram dropped as
// NO_SOCKET) with and without a drop capture running, alternating in the same run. The port is in
// a pod-like namespace behind a veth of this host, so its drops are the node's and are counted:
// the result prints datagrams sent beside drops counted, so the ratio is for a capture that worked.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makePodNetns } from '../test/helpers/netns.js';
import { waitFor } from '../test/helpers/wait.js';
import { startDropCapture } from '../src/backends/linux/drop-capture.js';
import { filterFromTokens } from '../src/packet/filter.js';

const FLOOD = fileURLToPath(new URL('../../bench/flood.mjs', import.meta.url));
export const DROP_FLOOD_PACKETS = Number(process.env.BENCH_DROP_FLOOD ?? 200_000);
const PORT = 9999;

export async function dropsBench(): Promise<Record<string, number>> {
  const pod = makePodNetns();
  try {
    // From this host to the pod: the datagrams die in the pod's namespace, on the node.
    const flood = (): number => {
      const start = process.hrtime.bigint();
      execFileSync(process.execPath, [FLOOD, pod.podIp, String(PORT), String(DROP_FLOOD_PACKETS)], { stdio: 'ignore' });
      return DROP_FLOOD_PACKETS / (Number(process.hrtime.bigint() - start) / 1e9);
    };
    flood(); // warm-up (ARP, JIT)
    const off: number[] = [];
    const on: number[] = [];
    const counted: number[] = [];
    for (let i = 0; i < 3; i++) {
      off.push(flood());
      let drops = 0;
      const filter = filterFromTokens({ ports: [String(PORT)], protocols: ['UDP'] });
      const handle = await startDropCapture(
        {
          filter,
          type: 3,
          snaplen: 0,
          interface: 'any',
          netns: '',
          pods: [],
          inPod: false,
          needPacketBytes: false,
          node: 'bench',
        },
        {
          packet: () => undefined,
          drops: (d) => {
            for (const x of d) if (x.reason === 'NO_SOCKET' && x.netns === pod.ns) drops += x.count;
          },
        },
      );
      on.push(flood());
      // Counts beyond the per-second print limit arrive from the kernel map once a second.
      await waitFor(() => drops >= DROP_FLOOD_PACKETS, 'every drop counted', 5000).catch(() => undefined);
      await handle.stop();
      counted.push(drops);
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1]!;
    return {
      flood_packets: DROP_FLOOD_PACKETS,
      sender_pps_without_drop_capture: Math.round(median(off)),
      sender_pps_with_drop_capture: Math.round(median(on)),
      ratio_with_to_without: +(median(on) / median(off)).toFixed(3),
      sent_per_capture_run: DROP_FLOOD_PACKETS,
      drops_counted_min: Math.min(...counted),
      drops_counted_max: Math.max(...counted),
    };
  } finally {
    pod.destroy();
  }
}
