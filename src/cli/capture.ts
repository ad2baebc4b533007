// `cnspect capture local|all|nodes|pods` — wcnspect's flags plus -w, --snaplen, -o.
import { hostname } from 'node:os';
import { Command } from 'commander';
import { CnspectError, badFlag, describeError, isErrorCode } from '../errors.js';
import type { AgentApi } from '../contract/agent-api.js';
import { clientTls, DEFAULT_AGENT_PORT, loadTargets } from '../fleet/targets.js';
import { NodeFailures, type StreamJob, type StreamOutcome, streamEach } from '../fleet/fan-out.js';
import { fleetExit, fleetNoticeText, nodeFailedWriter } from './fleet-report.js';
import { StopRequests } from './stops.js';
import { splitNames } from '../cluster/targets.js';
import { parseServerKind, runWcnspectCapture, type ServerKind } from './wcnspect.js';
import {
  type CaptureEvent,
  type CaptureRequest,
  type CaptureSummary,
  CaptureType,
  StopReason,
} from '../gen/cnspect/v1/agent.js';
import { filterFromTokens, type FilterTokens, PROTOCOL_HELP } from '../packet/filter.js';
import { CaptureOutput, stopReasonName } from '../output/capture-output.js';
import { REORDER_WINDOW_MS } from '../output/reorder.js';
import { PcapngFile } from '../output/pcapng-file.js';
import type { CliContext } from './context.js';
import {
  type OutputFormat,
  parseCaptureType,
  parseDurationSeconds,
  parseIntInRange,
  parseOutputFormat,
  parseSize,
} from './flags.js';
import { type FlagsOf, type OptionTable, TARGET_OPTIONS, withOptions } from './options.js';

export const CAPTURE_TARGETS = ['local', 'all', 'nodes', 'pods'] as const;

/** The filter flags: OR within a flag, AND across flags; `--not FLAG` excludes (expandNot rewrites it). */
export const FILTER_OPTIONS = {
  ips: {
    flags: '-i, --ips <ips>',
    description: 'match source or destination IP address or CIDR (comma-separated, repeatable)',
    repeatable: true,
  },
  macs: {
    flags: '-m, --macs <macs>',
    description: 'match source or destination MAC address (needs --interface)',
    repeatable: true,
  },
  ports: {
    flags: '-r, --ports <ports>',
    description: 'match source or destination port or range a-b',
    repeatable: true,
  },
  protocols: {
    flags: '-t, --protocols <protocols>',
    description: `match protocol: ${PROTOCOL_HELP}`,
    repeatable: true,
  },
  not: {
    flags: '--not',
    description: 'leave out what the next filter flag matches (--not -r 22: everything but port 22; repeatable)',
  },
  notIps: { flags: '--not-ips <ips>', description: '', repeatable: true, hidden: true },
  notMacs: { flags: '--not-macs <macs>', description: '', repeatable: true, hidden: true },
  notPorts: { flags: '--not-ports <ports>', description: '', repeatable: true, hidden: true },
  notProtocols: { flags: '--not-protocols <protocols>', description: '', repeatable: true, hidden: true },
} as const satisfies OptionTable;

const CAPTURE_OPTIONS = {
  ...FILTER_OPTIONS,
  includeSelf: {
    flags: '--include-self',
    description: "also capture the agent's own connection to this client (left out by default)",
  },
  type: { flags: '--type <type>', description: 'which packets: all, flow or drop (case-insensitive)', default: 'all' },
  time: { flags: '-d, --time <seconds>', description: 'capture duration in seconds; 0 = until Ctrl+C', default: '0' },
  countersOnly: {
    flags: '--counters-only',
    description: 'count packets per interface and direction; print no packets',
  },
  namespace: {
    flags: '-n, --namespace <namespace>',
    description: 'Kubernetes namespace of the pods (pods target)',
    default: 'default',
  },
  write: {
    flags: '-w, --write <file>',
    description: 'write packets to FILE in pcapng (Wireshark) format (created once the capture started)',
  },
  force: { flags: '-f, --force', description: 'let -w replace an existing file' },
  snaplen: { flags: '--snaplen <bytes>', description: 'bytes kept of each packet, 64-262144 (default: whole packets)' },
  maxBytes: { flags: '--max-bytes <size>', description: 'stop after this many captured bytes (e.g. 10M)' },
  maxPackets: {
    flags: '--max-packets <count>',
    description: 'stop after this many packets in total over all nodes (like tcpdump -c)',
  },
  output: {
    flags: '-o, --output <format>',
    description: 'packet lines on stdout: text or json (default text; none with -w)',
  },
  interface: { flags: '--interface <name>', description: 'interface to capture on (default: any)' },
  netns: {
    flags: '--netns <name>',
    description: 'capture inside this network namespace (a name from `ip netns list`)',
  },
  inPod: {
    flags: '--in-pod',
    description: "with pods: capture inside each pod's network namespace instead of on its host-side interface",
  },
  ...TARGET_OPTIONS,
  serverKind: {
    flags: '--server-kind <kind>',
    description: 'cnspect agents, or existing wcnspect servers (wcnspect: text lines, plaintext)',
    default: 'cnspect',
  },
} as const satisfies OptionTable;

/** Parsed capture flags; every one may be absent (planCapture applies the defaults the table declares). */
export type CaptureFlags = Partial<FlagsOf<typeof CAPTURE_OPTIONS>>;

export interface CapturePlan {
  target: (typeof CAPTURE_TARGETS)[number];
  names: string | undefined;
  namespace: string;
  inPod: boolean;
  inventoryPath: string | undefined;
  kube: { kubeconfig?: string; context?: string; agentPort: number };
  transport: 'direct' | 'tunnel';
  serverKind: ServerKind;
  request: CaptureRequest;
  format: OutputFormat | undefined;
  writePath: string | undefined;
  /** -f/--force: -w may replace an existing file. */
  force: boolean;
  countersOnly: boolean;
}

/** Pure: flags → a validated plan. Every bad value is refused here, before anything starts. */
export function planCapture(target: string, names: string | undefined, flags: CaptureFlags): CapturePlan {
  if (!(CAPTURE_TARGETS as readonly string[]).includes(target))
    throw badFlag('capture target', target, CAPTURE_TARGETS.join(', '));
  const kind = target as CapturePlan['target'];
  if ((kind === 'local' || kind === 'all') && names) throw badFlag(`capture ${kind}`, names, 'no further arguments');
  if (kind === 'nodes' || kind === 'pods') splitNames(names, kind); // refused before any cluster is asked
  if (flags.transport !== undefined && flags.transport !== 'direct' && flags.transport !== 'tunnel')
    throw badFlag('--transport', flags.transport, 'direct or tunnel');
  if (flags.transport === 'tunnel' && flags.inventory) {
    throw new CnspectError(
      'CNSPECT_BAD_FLAG',
      '--transport tunnel goes through the Kubernetes API server: it needs a kubeconfig, not --inventory',
      { hint: 'drop --inventory, or use --transport direct' },
    );
  }
  // Tunnel by default with a cluster (works from anywhere the API server is reachable); an
  // inventory's hosts are dialled directly.
  const transport = (flags.transport ?? (flags.inventory ? 'direct' : 'tunnel')) as 'direct' | 'tunnel';
  const agentPort = flags.port === undefined ? DEFAULT_AGENT_PORT : parseIntInRange(flags.port, '--port', 1, 65535);
  const serverKind = parseServerKind(flags.serverKind);
  if (serverKind === 'wcnspect') {
    if (kind === 'local')
      throw new CnspectError(
        'CNSPECT_BAD_FLAG',
        '--server-kind wcnspect talks to remote wcnspect servers: use capture all|nodes|pods',
      );
    if (flags.write)
      throw new CnspectError(
        'CNSPECT_UNSUPPORTED',
        'wcnspect servers send text lines, not packets: -w cannot write a pcapng from them',
        { hint: 'deploy cnspect agents (cnspect deploy --windows) for pcapng files' },
      );
    if (flags.transport === 'tunnel')
      throw new CnspectError(
        'CNSPECT_BAD_FLAG',
        'wcnspect servers are reached directly on their node (they run no agent pod to tunnel to)',
      );
  }
  if (kind === 'local') {
    const clusterFlags: Array<[string, unknown]> = [
      ['--inventory', flags.inventory],
      ['--in-pod', flags.inPod],
      ['--kubeconfig', flags.kubeconfig],
      ['--context', flags.context],
      ['--transport', flags.transport],
    ];
    const given = clusterFlags.filter(([, v]) => v !== undefined && v !== false).map(([name]) => name);
    if (given.length) {
      throw new CnspectError(
        'CNSPECT_BAD_FLAG',
        `capture local captures on this host through no agent or cluster: ${given.join(', ')} cannot be used with it`,
        {
          hint: `drop ${given.join(', ')}, or capture on nodes with \`capture all|nodes|pods\``,
        },
      );
    }
  }
  if (flags.inPod && kind !== 'pods')
    throw new CnspectError(
      'CNSPECT_BAD_FLAG',
      `--in-pod captures inside pods: it needs \`capture pods\`, not \`capture ${kind}\``,
    );
  if (kind === 'pods' && (flags.netns !== undefined || flags.interface !== undefined)) {
    throw new CnspectError(
      'CNSPECT_BAD_FLAG',
      "--interface and --netns cannot be combined with `capture pods`: the agent finds each pod's interface",
    );
  }
  const filter = filterFromTokens({
    ips: flags.ips,
    macs: flags.macs,
    ports: flags.ports,
    protocols: flags.protocols,
    not: negations(flags),
  });
  const type = flags.type === undefined ? CaptureType.CAPTURE_TYPE_ALL : parseCaptureType(flags.type);
  const durationMs = flags.time === undefined ? 0 : parseDurationSeconds(flags.time);
  const snaplen = flags.snaplen === undefined ? 0 : parseIntInRange(flags.snaplen, '--snaplen', 64, 262144);
  const maxBytes = flags.maxBytes === undefined ? 0 : parseSize(flags.maxBytes, '--max-bytes');
  const maxPackets =
    flags.maxPackets === undefined ? 0 : parseIntInRange(flags.maxPackets, '--max-packets', 1, Number.MAX_SAFE_INTEGER);
  const countersOnly = flags.countersOnly ?? false;
  if (countersOnly && flags.write)
    throw new CnspectError('CNSPECT_BAD_FLAG', '--counters-only captures no packets, so -w has nothing to write', {
      hint: 'drop one of --counters-only and -w',
    });
  // Like tcpdump: with -w, packets go to the file and not the terminal unless -o asks for both.
  // Drop records have no packet bytes to write: with -w they still need somewhere to be seen.
  const linesByDefault = !countersOnly && (!flags.write || type === CaptureType.CAPTURE_TYPE_DROP);
  const format = flags.output !== undefined ? parseOutputFormat(flags.output) : linesByDefault ? 'text' : undefined;
  const iface = flags.interface ?? 'any';
  if (flags.netns !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(flags.netns))
    throw badFlag('--netns', flags.netns, 'a network namespace name as listed by `ip netns list`');
  return {
    target: kind,
    names,
    namespace: flags.namespace ?? 'default',
    inPod: flags.inPod ?? false,
    inventoryPath: flags.inventory,
    kube: { kubeconfig: flags.kubeconfig, context: flags.context, agentPort },
    transport,
    serverKind,
    request: {
      filter,
      type,
      durationMs: BigInt(durationMs),
      countersOnly,
      snaplenBytes: snaplen,
      maxBytes: BigInt(maxBytes),
      maxPackets: BigInt(maxPackets),
      interface: iface,
      netns: flags.netns ?? '',
      counterIntervalMs: 0,
      pods: [],
      inPod: false,
      needPacketBytes: flags.write !== undefined,
      includeSelf: flags.includeSelf ?? false,
    },
    format,
    writePath: flags.write,
    force: flags.force ?? false,
    countersOnly,
  };
}

/** The `--not` flags (rewritten by expandNot into --not-ips …), one exclusion per occurrence. */
function negations(flags: CaptureFlags): FilterTokens['not'] {
  const pick = (field: 'ips' | 'macs' | 'ports' | 'protocols', values: string[] | undefined) =>
    (values ?? []).map((value) => ({ field, value }));
  return [
    ...pick('ips', flags.notIps),
    ...pick('macs', flags.notMacs),
    ...pick('ports', flags.notPorts),
    ...pick('protocols', flags.notProtocols),
  ];
}

/** One stream of the capture: a node's agent (or the in-process one) and what to ask it. */
interface Job {
  label: string;
  api: AgentApi;
  request: CaptureRequest;
  close(): Promise<void>;
}

async function jobsOf(plan: CapturePlan, ctx: CliContext): Promise<{ jobs: Job[]; podNames?: Map<string, string> }> {
  if (plan.target === 'local') {
    const { agent, close } = await ctx.localAgent();
    return { jobs: [{ label: hostname(), api: agent, request: plan.request, close }] };
  }
  const { jobsFor, podNamesByIp } = await import('../cluster/targets.js');
  const inventory = await loadTargets({ inventory: plan.inventoryPath, ...plan.kube }, `capture ${plan.target}`);
  const nodeJobs = jobsFor(inventory, plan.target, plan.names, plan.namespace, plan.inPod, plan.request);
  const tls = clientTls(inventory);
  const { connectAgent } = await import('../cluster/connect.js');
  const jobs = await Promise.all(
    nodeJobs.map(async (j): Promise<Job> => {
      const c = await connectAgent(inventory, j.node, tls, plan.transport, plan.kube.agentPort);
      return { label: j.label, api: c.api, request: j.request, close: c.close };
    }),
  );
  return { jobs, podNames: podNamesByIp(inventory) };
}

/** A node's capture session as the fan-out drives it: started, stopped by its session id, finished by its summary. */
interface Session {
  sessionId?: string;
  summary?: CaptureSummary;
}

function captureStream(j: Job, session: Session): StreamJob<CaptureEvent> {
  return {
    label: j.label,
    open: (signal) => j.api.capture(j.request, signal),
    isStart: (ev) => ev.event?.$case === 'started',
    stop: () => j.api.stopCapture(session.sessionId!),
    finished: () => session.summary !== undefined,
  };
}

export async function runCapture(plan: CapturePlan, ctx: CliContext): Promise<number> {
  if (plan.serverKind === 'wcnspect') {
    const { jobsFor } = await import('../cluster/targets.js');
    const inventory = await loadTargets(
      { inventory: plan.inventoryPath, ...plan.kube, skipClientSecret: true },
      `capture ${plan.target}`,
    );
    const jobs = jobsFor(
      inventory,
      plan.target as 'all' | 'nodes' | 'pods',
      plan.names,
      plan.namespace,
      false,
      plan.request,
    );
    return runWcnspectCapture(jobs, plan.format, ctx);
  }
  // Checked now, created only once the nodes have started: a refused capture never touches the file.
  const file = plan.writePath ? new PcapngFile(plan.writePath, plan.force) : undefined;
  // Listening from now on: a Ctrl+C while the nodes are being reached is a stop like any other.
  const stops = new StopRequests(ctx.signals);
  let jobs: Job[] = [];
  try {
    const resolved = await jobsOf(plan, ctx);
    jobs = resolved.jobs;
    const maxRecords = Number(plan.request.maxPackets);
    // One node stops by itself at --max-packets; over several, the total is reached here first.
    const onLimit = (): void => {
      if (jobs.length < 2) return;
      ctx.err.write(`--max-packets ${maxRecords} reached over ${jobs.length} nodes\n`);
      stops.request();
    };
    const output = new CaptureOutput({
      format: plan.format,
      write: (line) => ctx.out.write(`${line}\n`),
      status: (text) => ctx.err.write(text),
      file,
      // Several nodes' streams are merged in timestamp order; one stream is in order already.
      reorderWindowMs: jobs.length > 1 ? REORDER_WINDOW_MS : 0,
      showNode: plan.target !== 'local',
      podNames: resolved.podNames,
      maxRecords,
      onLimit,
    });
    const sessions = new Map(jobs.map((j) => [j.label, {} as Session]));
    const outcome = await streamEach(
      jobs.map((j) => captureStream(j, sessions.get(j.label)!)),
      stops,
      {
        event: (label, ev) => {
          const s = sessions.get(label)!;
          if (ev.event?.$case === 'started') s.sessionId = ev.event.value.sessionId;
          if (ev.event?.$case === 'summary') s.summary = ev.event.value;
          output.handle(label, ev);
        },
        failed: nodeFailedWriter(ctx.err, describeError),
        notice: (n) => ctx.err.write(fleetNoticeText(n, 'capture')),
        allStarted: () => file?.open(),
      },
    );
    output.flush();
    file?.close();
    return report(plan, jobs, sessions, outcome, output, ctx, file);
  } catch (err) {
    file?.close();
    throw err;
  } finally {
    stops.close();
    await Promise.all(jobs.map((j) => j.close()));
  }
}

function report(
  plan: CapturePlan,
  jobs: Job[],
  sessions: Map<string, Session>,
  outcome: StreamOutcome,
  output: CaptureOutput,
  ctx: CliContext,
  file: PcapngFile | undefined,
): number {
  if (plan.countersOnly) {
    ctx.out.write(
      plan.format === 'json'
        ? output
            .countersRecords()
            .map((r) => `${JSON.stringify(r)}\n`)
            .join('')
        : `${output.countersTable()}\n`,
    );
  }
  const failures = new NodeFailures(nodeFailedWriter(ctx.err, describeError));
  for (const [label, err] of outcome.failure?.causes ?? []) failures.causes.set(label, err);
  for (const j of jobs) {
    const summary = sessions.get(j.label)!.summary;
    if (outcome.stoppedBeforeStart.has(j.label) && !failures.has(j.label) && !summary?.counters?.packets) {
      ctx.err.write(`${j.label}: stopped before the capture started\n`);
      continue;
    }
    if (!summary) continue;
    const c = summary.counters;
    const unit = plan.request.type === CaptureType.CAPTURE_TYPE_DROP ? 'drops' : 'packets';
    ctx.err.write(
      `${j.label}: ${c?.packets ?? 0} ${unit}, ${c?.bytes ?? 0} bytes captured (${stopReasonName(summary.reason)})` +
        `${c && c.kernelDropped > 0n ? `, ${c.kernelDropped} dropped by kernel` : ''}\n`,
    );
    if (summary.reason === StopReason.STOP_REASON_ERROR) {
      const code = isErrorCode(summary.errorCode) ? summary.errorCode : 'CNSPECT_AGENT_ERROR';
      failures.add(j.label, new CnspectError(code, summary.errorMessage, { context: { node: j.label } }));
    }
  }
  if (file?.opened) ctx.err.write(`${file.packets} packets written to ${file.path}\n`);
  else if (file) ctx.err.write(`${file.path} was not written: no capture started\n`);
  const drops = output.dropTable();
  if (drops) ctx.err.write(`drops by node and reason:\n${drops}\n`);
  return fleetExit(failures.failure(jobs.length), ctx.err);
}

export function captureCommand(ctx: CliContext, setExit: (code: number) => void): Command {
  const cmd = new Command('capture')
    .summary('capture packets live on nodes, pods or this host')
    .description(
      'Capture packets live. Targets: local (this host, no cluster needed), all, nodes <n1,n2>, pods <p1,p2>.\n' +
        'Filters: OR within a flag, AND across flags; -i/-m/-r match source or destination.',
    )
    .argument('<target>', `where to capture: ${CAPTURE_TARGETS.join(', ')}`)
    .argument('[names]', 'comma-separated node or pod names (nodes, pods)');
  return withOptions(cmd, CAPTURE_OPTIONS)
    .addHelpText(
      'after',
      '\nExamples:\n  cnspect capture local -t TCP_SYN -d 10\n  cnspect capture local -i 10.244.1.0/24 -r ' +
        '53 -t UDP -w dns.pcapng\n  cnspect capture local --counters-only -d 5\n  cnspect capture all ' +
        '--inventory lab.yaml -t ICMP -w all.pcapng\n  cnspect capture pods default/pod-1-1,pod-2-1 ' +
        '--inventory lab.yaml --in-pod',
    )
    .action(async (target: string, names: string | undefined, flags: CaptureFlags) => {
      setExit(await runCapture(planCapture(target, names, flags), ctx));
    });
}
