// Recorded-output stand-ins for pktmon, vfpctrl and hnsdiag (test/standins), copied into a
// fresh directory per test with the recordings they replay; their calls are logged there.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { standInTools, type WindowsTools } from '../../src/backends/windows/tools.js';
import { waitFor } from './wait.js';
import { windowsFixturePath } from './windows-fixtures.js';

const SOURCE = fileURLToPath(new URL('../../../test/standins/', import.meta.url));

export interface StandIns {
  dir: string;
  tools: WindowsTools;
  /** Every call so far, as argv (tool first). */
  calls(): string[][];
  clearCalls(): void;
  sessionRunning(): boolean;
  filters(): string[][];
  destroy(): void;
}

/** The real recordings every stand-in replays by default. */
export const DEFAULT_REPLAY = {
  realtime: 'pktmon-realtime/rosesecurity-etw-realtime-tcp-syn.txt',
  list: 'pktmon-list/msquic-tsg-pktmon-list-network-adapters.txt',
  endpoints: 'hns-endpoint/flannel-remote-endpoint-convertto-json.json',
  networks: 'hns-network/docker-netrestore-hns-v1-create-response.txt',
  loadbalancers: 'hnsdiag/flannel-hnsdiag-list-loadbalancers.txt',
  listRule: 'vfpctrl-list-rule/rke2-calico-acl-endpoint-layer.txt',
};

/** `replay` maps a recording key to a fixture path (under fixtures/windows) or, with `files`, to any file. */
export function makeStandIns(
  replay: Record<string, string | number | boolean> = {},
  files: Record<string, string> = {},
): StandIns {
  const dir = mkdtempSync(join(tmpdir(), 'cnspect-standin-'));
  for (const f of readdirSync(SOURCE)) copyFileSync(join(SOURCE, f), join(dir, f));
  const config: Record<string, unknown> = {};
  for (const [k, v] of Object.entries({ ...DEFAULT_REPLAY, ...replay }))
    config[k] = typeof v === 'string' ? windowsFixturePath(v) : v;
  Object.assign(config, files);
  writeFileSync(join(dir, 'replay.json'), JSON.stringify(config));
  const log = join(dir, 'calls.log');
  return {
    dir,
    tools: standInTools(dir, join(dir, 'work')),
    calls: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as string[])
        : [],
    clearCalls: () => rmSync(log, { force: true }),
    sessionRunning: () => existsSync(join(dir, 'session.json')),
    filters: () =>
      existsSync(join(dir, 'filters.json'))
        ? (JSON.parse(readFileSync(join(dir, 'filters.json'), 'utf8')) as string[][])
        : [],
    destroy: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A real pcapng of `count` ICMP echo packets on loopback, as pktmon's etl2pcap stand-in "converts"
 * to: tcpdump captures the pings, editcap rewrites the file as pcapng.
 */
export async function loopbackIcmpPcapng(dir: string, count: number): Promise<string> {
  const pcap = join(dir, 'lo.pcap');
  const pcapng = join(dir, 'lo.pcapng');
  const dump = spawn('tcpdump', ['-i', 'lo', '-U', '-c', String(count), '-w', pcap, 'icmp and host 127.0.0.1'], {
    stdio: 'ignore',
  });
  const dumped = new Promise((resolve) => dump.once('exit', resolve));
  try {
    await waitFor(() => existsSync(pcap), 'tcpdump to open its file');
    await waitFor(
      () => spawnSync('ping', ['-c', '1', '-W', '1', '127.0.0.1']).status === 0 && dump.exitCode !== null,
      `${count} ICMP packets`,
      15_000,
      100,
    );
  } finally {
    if (dump.exitCode === null) dump.kill();
    await dumped;
  }
  const edit = spawnSync('editcap', ['-F', 'pcapng', pcap, pcapng], { encoding: 'utf8' });
  if (edit.status !== 0) throw new Error(`editcap failed: ${edit.stderr}`);
  return pcapng;
}
