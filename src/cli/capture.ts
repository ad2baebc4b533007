// `cnspect capture local|all|nodes|pods` — wcnspect's flags plus -w, --snaplen, -o.
import { hostname } from 'node:os';
import { Command, Option } from 'commander';
import { CnspectError, badFlag, describeError, isErrorCode, ERROR_CODES } from '../errors.js';
import { type CaptureRequest, CaptureType, StopReason } from '../gen/cnspect/v1/agent.js';
import { filterFromTokens, PROTOCOL_HELP } from '../packet/filter.js';
import { CaptureOutput, stopReasonName } from '../output/capture-output.js';
import { PcapngFile } from '../output/pcapng-file.js';
import type { CliContext } from './context.js';
import {
  collect, type OutputFormat, parseCaptureType, parseDurationSeconds, parseIntInRange, parseOutputFormat, parseSize,
} from './flags.js';

/** After the first Ctrl+C, how long to wait for every node's final counts before giving up. */
export const STOP_WAIT_MS = 5000;

export const CAPTURE_TARGETS = ['local', 'all', 'nodes', 'pods'] as const;

export interface CaptureFlags {
  ips?: string[];
  macs?: string[];
  ports?: string[];
  protocols?: string[];
  type?: string;
  time?: string;
  countersOnly?: boolean;
  namespace?: string;
  write?: string;
  snaplen?: string;
  maxBytes?: string;
  maxPackets?: string;
  output?: string;
  interface?: string;
  netns?: string;
}

export interface CapturePlan {
  target: (typeof CAPTURE_TARGETS)[number];
  request: CaptureRequest;
  format: OutputFormat | undefined;
  writePath: string | undefined;
  countersOnly: boolean;
}

/** Pure: flags → a validated plan. Every bad value is refused here, before anything starts. */
export function planCapture(target: string, names: string | undefined, flags: CaptureFlags): CapturePlan {
  if (!(CAPTURE_TARGETS as readonly string[]).includes(target)) throw badFlag('capture target', target, CAPTURE_TARGETS.join(', '));
  if (target !== 'local') {
    throw new CnspectError('CNSPECT_UNSUPPORTED', `capture ${target}${names ? ` ${names}` : ''} needs cluster targets, which this version cannot reach yet`, { hint: 'use `cnspect capture local` on the node itself' });
  }
  if (names) throw badFlag('capture local', names, 'no further arguments');
  const filter = filterFromTokens({ ips: flags.ips, macs: flags.macs, ports: flags.ports, protocols: flags.protocols });
  const type = flags.type === undefined ? CaptureType.CAPTURE_TYPE_ALL : parseCaptureType(flags.type);
  const durationMs = flags.time === undefined ? 0 : parseDurationSeconds(flags.time);
  const snaplen = flags.snaplen === undefined ? 0 : parseIntInRange(flags.snaplen, '--snaplen', 64, 262144);
  const maxBytes = flags.maxBytes === undefined ? 0 : parseSize(flags.maxBytes, '--max-bytes');
  const maxPackets = flags.maxPackets === undefined ? 0 : parseIntInRange(flags.maxPackets, '--max-packets', 1, Number.MAX_SAFE_INTEGER);
  const countersOnly = flags.countersOnly ?? false;
  if (countersOnly && flags.write) throw new CnspectError('CNSPECT_BAD_FLAG', '--counters-only captures no packets, so -w has nothing to write', { hint: 'drop one of --counters-only and -w' });
  // Like tcpdump: with -w, packets go to the file and not the terminal unless -o asks for both.
  const format = flags.output !== undefined ? parseOutputFormat(flags.output) : flags.write || countersOnly ? undefined : 'text';
  const iface = flags.interface ?? 'any';
  if (flags.netns !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(flags.netns)) throw badFlag('--netns', flags.netns, 'a network namespace name as listed by `ip netns list`');
  return {
    target: 'local',
    request: {
      filter, type, durationMs: BigInt(durationMs), countersOnly, snaplenBytes: snaplen, maxBytes: BigInt(maxBytes), maxPackets: BigInt(maxPackets),
      interface: iface, netns: flags.netns ?? '', counterIntervalMs: 0,
    },
    format,
    writePath: flags.write,
    countersOnly,
  };
}

export async function runCapture(plan: CapturePlan, ctx: CliContext): Promise<number> {
  const file = plan.writePath ? new PcapngFile(plan.writePath) : undefined;
  const output = new CaptureOutput({ format: plan.format, out: ctx.out, err: ctx.err, file, showNode: plan.target !== 'local' });
  const node = hostname();
  const abort = new AbortController();
  const { agent, close } = await ctx.localAgent();
  let interrupts = 0;
  let stopTimer: NodeJS.Timeout | undefined;
  const onInterrupt = (): void => {
    interrupts++;
    if (interrupts === 1) {
      ctx.err.write('stopping… (Ctrl+C again to quit at once)\n');
      const id = output.sessionId(node);
      if (id) agent.stopCapture(id).catch(() => abort.abort());
      else abort.abort();
      stopTimer = setTimeout(() => abort.abort(), STOP_WAIT_MS);
    } else {
      abort.abort();
    }
  };
  ctx.signals.on('SIGINT', onInterrupt);
  let failure: unknown;
  try {
    for await (const ev of agent.capture(plan.request, abort.signal)) {
      output.handle(node, ev);
      if (abort.signal.aborted && interrupts > 1) break;
    }
  } catch (err) {
    failure = err;
  } finally {
    ctx.signals.off('SIGINT', onInterrupt);
    clearTimeout(stopTimer);
    file?.close();
    await close();
  }
  if (failure) {
    ctx.err.write(`${describeError(failure)}\n`);
    return failure instanceof CnspectError ? failure.exitCode : 1;
  }
  if (plan.countersOnly) {
    ctx.out.write(plan.format === 'json' ? `${JSON.stringify(output.countersJson())}\n` : `${output.countersTable()}\n`);
  }
  const summary = output.summary(node);
  if (!summary) {
    ctx.err.write(`${node}: capture ended without final counts\n`);
    return interrupts > 1 ? 130 : 1;
  }
  const c = summary.counters;
  ctx.err.write(`${node}: ${c?.packets ?? 0} packets, ${c?.bytes ?? 0} bytes captured (${stopReasonName(summary.reason)})` +
    `${c && c.kernelDropped > 0n ? `, ${c.kernelDropped} dropped by kernel` : ''}${file ? `; ${file.packets} written to ${file.path}` : ''}\n`);
  if (summary.reason === StopReason.STOP_REASON_ERROR) {
    ctx.err.write(`${node}: ${summary.errorCode}: ${summary.errorMessage}\n`);
    return isErrorCode(summary.errorCode) ? ERROR_CODES[summary.errorCode].exit : 1;
  }
  return 0;
}

export function captureCommand(ctx: CliContext, setExit: (code: number) => void): Command {
  return new Command('capture')
    .summary('capture packets live on nodes, pods or this host')
    .description('Capture packets live. Targets: local (this host, no cluster needed), all, nodes <n1,n2>, pods <p1,p2>.\n' +
      'Filters: OR within a flag, AND across flags; -i/-m/-r match source or destination.')
    .argument('<target>', `where to capture: ${CAPTURE_TARGETS.join(', ')}`)
    .argument('[names]', 'comma-separated node or pod names (nodes, pods)')
    .option('-i, --ips <ips>', 'match source or destination IP address or CIDR (comma-separated, repeatable)', collect)
    .option('-m, --macs <macs>', 'match source or destination MAC address (needs --interface)', collect)
    .option('-r, --ports <ports>', 'match source or destination port or range a-b', collect)
    .option('-t, --protocols <protocols>', `match protocol: ${PROTOCOL_HELP}`, collect)
    .option('--type <type>', 'which packets: all, flow or drop (case-insensitive)', 'all')
    .option('-d, --time <seconds>', 'capture duration in seconds; 0 = until Ctrl+C', '0')
    .option('--counters-only', 'count packets per interface and direction; print no packets')
    .addOption(new Option('-n, --namespace <namespace>', 'Kubernetes namespace of the pods (pods target)').default('default'))
    .option('-w, --write <file>', 'write packets to FILE in pcapng (Wireshark) format')
    .option('--snaplen <bytes>', 'bytes kept of each packet, 64-262144 (default: whole packets)')
    .option('--max-bytes <size>', 'stop after this many captured bytes (e.g. 10M)')
    .option('--max-packets <count>', 'stop after this many packets')
    .option('-o, --output <format>', 'packet lines on stdout: text or json (default text; none with -w)')
    .option('--interface <name>', 'interface to capture on (default: any)')
    .option('--netns <name>', 'capture inside this network namespace (a name from `ip netns list`)')
    .addHelpText('after', '\nExamples:\n  cnspect capture local -t TCP_SYN -d 10\n  cnspect capture local -i 10.244.1.0/24 -r 53 -t UDP -w dns.pcapng\n  cnspect capture local --counters-only -d 5')
    .action(async (target: string, names: string | undefined, flags: CaptureFlags) => {
      setExit(await runCapture(planCapture(target, names, flags), ctx));
    });
}
