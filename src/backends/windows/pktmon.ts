// The Windows capture backend: pktmon, one session per node. Live captures run pktmon in
// real-time mode and turn its text into typed packets and drops; a client that needs packet
// bytes (-w) gets a file-mode capture converted by `pktmon etl2pcap` when it stops. pktmon and
// its filters are stopped and removed on every exit path, and at agent start.
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Child } from '../../process/child.js';
import { CnspectError } from '../../errors.js';
import { CaptureType, type PodRef } from '../../gen/cnspect/v1/agent.js';
import { Dir } from '../../packet/decode.js';
import { readPcapng } from '../../packet/pcapng-reader.js';
import type {
  CaptureBackend,
  CaptureHandle,
  CapturedDrop,
  CapturedText,
  CaptureSink,
  CaptureSpec,
  LinkStats,
  PortReport,
} from '../backend.js';
import { pktmonFilterArgs } from './pktmon-filter.js';
import {
  componentForMac,
  endpointsFromDecode,
  type PktmonComponent,
  type PktmonPacket,
  parsePktmonCountersJson,
  parsePktmonHeader,
  parsePktmonList,
  pktmonTimeNs,
} from './pktmon-parse.js';
import { DROP_LOCATIONS, DROP_REASONS } from './pktmon-tables.js';
import { mustRun, runTool, toolWords, type ToolResult, type WindowsTools, defaultWindowsTools } from './tools.js';
import { hnsEndpointObjects, windowsDatapath } from './hns.js';
import { endpointFromHns } from './hns-parse.js';
import { vfpPortCounters } from './vfp.js';

const TYPE_ARG: Partial<Record<CaptureType, string>> = {
  [CaptureType.CAPTURE_TYPE_ALL]: 'all',
  [CaptureType.CAPTURE_TYPE_FLOW]: 'flow',
  [CaptureType.CAPTURE_TYPE_DROP]: 'drop',
};
/** ETL size cap of a file-mode capture (pktmon's own default is 512 MB). */
const FILE_SIZE_MB = 512;
const START_TIMEOUT_MS = 15_000;
const START_SETTLE_MS = 300;
const LINKTYPE_ETHERNET = 1;
const FILE_PREFIX = 'cnspect-';

/** The pktmon components of the node by id, and those the pods' HNS endpoints map to. */
export function podComponents(
  pods: PodRef[],
  endpoints: Array<Record<string, unknown>>,
  components: PktmonComponent[],
  node: string,
): number[] {
  const ids = new Set<number>();
  const shared = endpoints.map(endpointFromHns);
  for (const pod of pods) {
    for (const ip of pod.ips) {
      const ep = shared.find((e) => e.ips.includes(ip));
      if (!ep) {
        throw new CnspectError(
          'CNSPECT_POD_NOT_FOUND',
          `no HNS endpoint on ${node} has IP ${ip} (pod ${pod.namespace}/${pod.name})`,
          {
            hint: 'check that the pod runs on this node (kubectl get pod -o wide) and `cnspect hns endpoints -n NODE`',
          },
        );
      }
      const comp = componentForMac(components, ep.mac);
      if (!comp) {
        throw new CnspectError(
          'CNSPECT_POD_NOT_FOUND',
          `HNS endpoint ${ep.name} of pod ${pod.namespace}/${pod.name} has MAC ` +
            `${ep.mac.toUpperCase().replace(/:/g, '-')}, which no pktmon component has`,
          { hint: "a remote endpoint (another node's pod) has no local vNIC; capture on that pod's node" },
        );
      }
      ids.add(comp.id);
    }
  }
  return [...ids];
}

export class PktmonBackend implements CaptureBackend {
  readonly name = 'pktmon';
  readonly os = 'windows' as const;
  /** pktmon selects flows and drops itself. */
  readonly captureTypes = [
    CaptureType.CAPTURE_TYPE_ALL,
    CaptureType.CAPTURE_TYPE_FLOW,
    CaptureType.CAPTURE_TYPE_DROP,
  ] as const;
  private active: string | undefined;

  constructor(
    readonly tools: WindowsTools = defaultWindowsTools(),
    readonly now: () => number = Date.now,
  ) {}

  async cleanupLeftovers(): Promise<string[]> {
    const done: string[] = [];
    const stop = await runTool(this.tools.pktmon, ['stop']);
    done.push(`pktmon stop (exit ${stop.code}): ${toolWords(stop.out) || 'no output'}`);
    const filters = await runTool(this.tools.pktmon, ['filter', 'remove']);
    done.push(`pktmon filter remove (exit ${filters.code}): ${toolWords(filters.out) || 'no output'}`);
    const files = await readdir(this.tools.workDir).catch(() => [] as string[]);
    for (const f of files.filter((x) => x.startsWith(FILE_PREFIX))) {
      await rm(join(this.tools.workDir, f), { force: true });
      done.push(`removed ${join(this.tools.workDir, f)}`);
    }
    return done;
  }

  async start(spec: CaptureSpec, sink: CaptureSink): Promise<CaptureHandle> {
    if (this.active) {
      throw new CnspectError(
        'CNSPECT_BUSY',
        `pktmon on ${spec.node} already runs a capture (${this.active}); Windows allows one pktmon session per node`,
        { hint: 'wait for that capture to end, or stop it (Ctrl+C in its terminal)' },
      );
    }
    if (spec.netns)
      throw new CnspectError(
        'CNSPECT_UNSUPPORTED',
        'network namespaces are a Linux notion; on a Windows node capture on pods or pktmon components ' +
          '(--interface ID)',
      );
    if (spec.inPod)
      throw new CnspectError(
        'CNSPECT_UNSUPPORTED',
        "capturing inside the pod is not available on Windows nodes: pktmon already sees the pod's vNIC",
        { hint: 'drop --in-pod' },
      );
    if (spec.interface !== 'any' && !/^\d{1,6}$/.test(spec.interface)) {
      throw new CnspectError(
        'CNSPECT_BAD_REQUEST',
        `on a Windows node --interface takes a pktmon component id (digits, see \`pktmon list\`); got ` +
          `${JSON.stringify(spec.interface)}`,
      );
    }
    const type = TYPE_ARG[spec.type];
    if (!type) throw new CnspectError('CNSPECT_UNSUPPORTED', `capture type ${spec.type} is not available with pktmon`);
    const filters = pktmonFilterArgs(spec.filter); // refuses what pktmon cannot say, before anything runs
    if (spec.self) {
      // pktmon filters only include: its own stream cannot be kept out, so the user is told.
      sink.notice?.(
        'CNSPECT_SELF_INCLUDED',
        `pktmon cannot leave out the agent's own connection (TCP ${spec.self.peerIp}:${spec.self.peerPort} ` +
          `to port ${spec.self.agentPort}): it is captured too unless the filter excludes it`,
        true,
      );
    }
    const id = randomBytes(4).toString('hex');
    this.active = `${spec.needPacketBytes ? 'file' : 'real-time'} capture ${id}`;
    let filtersAdded = false;
    try {
      const components = parsePktmonList(await mustRun(this.tools.pktmon, ['list'], 'listing pktmon components'));
      let comps: number[] = spec.interface === 'any' ? [] : [Number(spec.interface)];
      if (spec.pods.length)
        comps = podComponents(spec.pods, await hnsEndpointObjects(this.tools), components, spec.node);
      await mustRun(this.tools.pktmon, ['filter', 'remove'], 'clearing pktmon filters');
      filtersAdded = true;
      for (const f of filters) await mustRun(this.tools.pktmon, f, 'adding a pktmon filter');
      const names = new Map(components.map((c) => [c.id, `${c.id}:${c.name}`]));
      const common = [
        'start',
        '--capture',
        '--comp',
        comps.length ? comps.join(',') : 'all',
        '--type',
        type,
        '--pkt-size',
        String(spec.snaplen >= 65535 ? 0 : spec.snaplen),
      ];
      const compText = comps.length
        ? `pktmon components ${comps.map((c) => names.get(c) ?? c).join(', ')}`
        : 'all pktmon components';
      const where = `${compText} (pktmon --type ${type})`;
      const expression = filters.map((f) => f.slice(2).join(' ')).join(' OR ');
      const done = (): void => {
        this.active = undefined;
      };
      const handle = spec.needPacketBytes
        ? await FileCapture.start(
            this,
            spec,
            sink,
            [
              ...common,
              '--file-name',
              join(this.tools.workDir, `${FILE_PREFIX}${id}.etl`),
              '--file-size',
              String(FILE_SIZE_MB),
              '--log-mode',
              'circular',
            ],
            where,
            expression,
            id,
          )
        : await RealtimeCapture.start(
            this,
            spec,
            sink,
            [...common, '--log-mode', 'real-time'],
            where,
            expression,
            names,
          );
      void handle.ended.then(done);
      return handle;
    } catch (err) {
      // Only what this start did is undone: a session that would not start is not ours to stop.
      if (filtersAdded) await this.removeFilters().catch(() => undefined);
      this.active = undefined;
      throw err;
    }
  }

  /** `pktmon stop`: ends the node's session (a no-op when none runs); never throws, says how it went. */
  stopSession(): Promise<ToolResult> {
    return runTool(this.tools.pktmon, ['stop']);
  }

  /** `pktmon filter remove`; a failure is an error telling the user to remove them by hand. */
  async removeFilters(): Promise<void> {
    const r = await runTool(this.tools.pktmon, ['filter', 'remove']);
    if (r.code !== 0)
      throw new CnspectError(
        'CNSPECT_TOOL_FAILED',
        `pktmon filter remove failed (exit ${r.code}): ${toolWords(r.out)}`,
        { hint: 'remove them by hand: pktmon filter remove' },
      );
  }

  /** Per-component counters of the running session (`pktmon counters --json`). */
  async componentStats(names: Map<number, string>): Promise<Array<{ name: string; stats: LinkStats }>> {
    const out = await mustRun(this.tools.pktmon, ['counters', '--json'], 'reading pktmon counters');
    return parsePktmonCountersJson(out).map((c) => ({
      name: names.get(c.id) ?? `${c.id}:${c.name}`,
      stats: {
        rxPackets: c.flow.inPackets,
        rxBytes: c.flow.inBytes,
        txPackets: c.flow.outPackets,
        txBytes: c.flow.outBytes,
        rxDropped: c.drop.inPackets,
        txDropped: c.drop.outPackets,
        rxErrors: 0,
        txErrors: 0,
      },
    }));
  }

  datapath(node: string): ReturnType<typeof windowsDatapath> {
    return windowsDatapath(this.tools, node);
  }

  portCounters(pod: PodRef, detailed: boolean, node: string): Promise<PortReport> {
    return vfpPortCounters(this.tools, pod, detailed, node);
  }
}

/** A pktmon record → the typed packet or drop the session streams. */
export function pktmonRecord(p: PktmonPacket, nowMs: number): { text?: CapturedText; drop?: CapturedDrop } {
  const timeNs = pktmonTimeNs(p.time, nowMs);
  if (p.dropReason !== undefined) {
    const ep = p.decode ? endpointsFromDecode(p.decode) : undefined;
    const code = typeof p.dropReason === 'number' ? p.dropReason : -1;
    const loc = p.dropLocation;
    return {
      drop: {
        timeMs: Number(timeNs / 1_000_000n),
        reason: code >= 0 ? (DROP_REASONS.get(code)?.find(Boolean) ?? `reason ${code}`) : String(p.dropReason),
        reasonCode: Math.max(code, 0),
        src: ep?.src ?? '',
        dst: ep?.dst ?? '',
        ipProtocol: ep?.ipProtocol ?? 0,
        srcPort: ep?.srcPort ?? 0,
        dstPort: ep?.dstPort ?? 0,
        netnsInode: 0,
        netns: '',
        interface: String(p.component),
        count: 1,
        location:
          typeof loc === 'number' ? (DROP_LOCATIONS.get(loc) ?? `0x${loc.toString(16).toUpperCase()}`) : (loc ?? ''),
      },
    };
  }
  return {
    text: {
      timeNs,
      ifindex: p.component,
      direction: p.direction === 'Rx' ? Dir.In : p.direction === 'Tx' ? Dir.Out : Dir.Unknown,
      originalLength: p.originalSize,
      loggedLength: p.loggedSize,
      summary: p.decode ?? '',
      groupId: p.pktGroupId,
      appearance: p.appearance,
      edge: p.edge,
      frameType: p.type,
    },
  };
}

/** What both pktmon handles share: component names, pktmon's counters, no kernel drop figure. */
abstract class PktmonHandle {
  constructor(
    protected readonly backend: PktmonBackend,
    protected readonly names: Map<number, string>,
  ) {}

  interfaceName(ifindex: number): string {
    return this.names.get(ifindex) ?? String(ifindex);
  }

  interfaceStats(): Promise<Array<{ name: string; stats: LinkStats }>> {
    return this.backend.componentStats(this.names);
  }

  kernelDropped(): number {
    return 0;
  }

  requestStats(): void {}
}

/** pktmon --log-mode real-time: header line + indented decode line per packet on stdout. */
class RealtimeCapture extends PktmonHandle implements CaptureHandle {
  readonly linkType = LINKTYPE_ETHERNET;
  readonly ended: Promise<{ error?: Error }>;
  private partial = '';
  private pending: PktmonPacket | undefined;
  private pendingTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private unparsed = 0;
  sawPacket = false;

  private constructor(
    backend: PktmonBackend,
    private readonly child: Child,
    private readonly sink: CaptureSink,
    readonly capturePoint: string,
    readonly filterExpression: string,
    readonly snaplen: number,
    names: Map<number, string>,
  ) {
    super(backend, names);
    child.process.stdout!.setEncoding('utf8');
    child.process.stdout!.on('data', (s: string) => this.onData(s));
    this.ended = child.exited.then(async (info) => {
      this.onData('\n');
      this.emitPending();
      if (this.stopping) {
        await this.stopping.catch(() => undefined);
        return {};
      }
      // pktmon ended on its own: crash, or a `pktmon stop` from outside cnspect.
      await this.backend.stopSession();
      const cleanup = await this.backend.removeFilters().then(
        () => undefined,
        (e: Error) => e,
      );
      if (info.exitCode === 0) {
        sink.notice?.('CNSPECT_TOOL_STOPPED', 'pktmon stopped by itself (another `pktmon stop` on the node?)', true);
        return cleanup ? { error: cleanup } : {};
      }
      return {
        error: new CnspectError(
          'CNSPECT_TOOL_FAILED',
          `pktmon exited with ${info.exitCode ?? info.signal} during the capture: ` +
            `${toolWords(this.lastOutput + child.stderr) || 'no message'}`,
          { hint: 'filters and the session were removed; start the capture again' },
        ),
      };
    });
  }

  private lastOutput = '';

  static async start(
    backend: PktmonBackend,
    spec: CaptureSpec,
    sink: CaptureSink,
    args: string[],
    where: string,
    expression: string,
    names: Map<number, string>,
  ): Promise<RealtimeCapture> {
    const child = new Child([...backend.tools.pktmon, ...args], { dieWithParent: true });
    const handle = new RealtimeCapture(backend, child, sink, where, expression, spec.snaplen, names);
    // pktmon announces the session on stdout and keeps running; when it cannot start it prints
    // why and exits at once. So: capturing once it has spoken and is still running a moment later.
    const spoke = await Promise.race([
      new Promise<boolean>((resolve) => child.process.stdout!.once('data', () => resolve(true))),
      child.exited.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(child.running), START_TIMEOUT_MS).unref()),
    ]);
    const started =
      spoke &&
      (await Promise.race([
        child.exited.then((info) => info.exitCode === 0 && handle.sawPacket),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), START_SETTLE_MS).unref()),
      ]));
    if (!started) {
      const info = await child.exited;
      await new Promise((resolve) => setImmediate(resolve));
      throw new CnspectError(
        'CNSPECT_TOOL_FAILED',
        `pktmon did not start (exit ${info.exitCode}): ${toolWords(handle.lastOutput + child.stderr) || 'no message'}`,
        {
          hint: 'another pktmon or ETW packet session may be running on the node: `pktmon status`, then `pktmon stop`',
        },
      );
    }
    return handle;
  }

  private onData(chunk: string): void {
    this.lastOutput = (this.lastOutput + chunk).slice(-2000);
    const lines = (this.partial + chunk).split(/\r?\n/);
    this.partial = lines.pop() ?? '';
    const done: PktmonPacket[] = [];
    for (const line of lines) {
      let header: PktmonPacket | undefined;
      try {
        header = parsePktmonHeader(line);
      } catch (err) {
        if (this.unparsed++ === 0) this.sink.notice?.('CNSPECT_UNPARSED_LINE', (err as Error).message, true);
        continue;
      }
      if (header) {
        this.sawPacket = true;
        if (this.pending) done.push(this.pending);
        this.pending = header;
      } else if (this.pending && /^\s+\S/.test(line)) {
        this.pending.decode = line.trim();
        done.push(this.pending);
        this.pending = undefined;
      }
    }
    this.deliver(done);
    clearTimeout(this.pendingTimer);
    if (this.pending) this.pendingTimer = setTimeout(() => this.emitPending(), 100);
  }

  /** Complete packets to the sink: typed records, and drops named by their component. */
  private deliver(packets: PktmonPacket[]): void {
    const texts: CapturedText[] = [];
    const drops: CapturedDrop[] = [];
    const now = this.backend.now();
    for (const p of packets) {
      const r = pktmonRecord(p, now);
      if (r.text) texts.push(r.text);
      if (r.drop) {
        r.drop.interface = this.interfaceName(p.component);
        drops.push(r.drop);
      }
    }
    if (texts.length) this.sink.texts?.(texts);
    if (drops.length) this.sink.drops?.(drops);
  }

  private emitPending(): void {
    clearTimeout(this.pendingTimer);
    const p = this.pending;
    this.pending = undefined;
    if (p) this.deliver([p]);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // `pktmon stop` ends the session and with it the real-time process; kill it if it lingers.
      const stop = await this.backend.stopSession();
      await this.child.stop('SIGTERM');
      this.emitPending();
      await this.backend.removeFilters();
      if (stop.code !== 0 && this.child.process.exitCode !== 0)
        this.sink.notice?.('CNSPECT_TOOL_FAILED', `pktmon stop said: ${toolWords(stop.out)}`, true);
    })();
    return this.stopping;
  }
}

/** pktmon writing an ETL file; at stop converted with `pktmon etl2pcap` and streamed back. */
class FileCapture extends PktmonHandle implements CaptureHandle {
  readonly linkType = LINKTYPE_ETHERNET;
  readonly deliversAtStop = true;
  readonly ended: Promise<{ error?: Error }>;
  private endedResolve!: (v: { error?: Error }) => void;
  private stopping: Promise<void> | undefined;
  private constructor(
    backend: PktmonBackend,
    private readonly sink: CaptureSink,
    private readonly etl: string,
    readonly capturePoint: string,
    readonly filterExpression: string,
    readonly snaplen: number,
  ) {
    super(backend, new Map());
    this.ended = new Promise((resolve) => {
      this.endedResolve = resolve;
    });
  }

  static async start(
    backend: PktmonBackend,
    spec: CaptureSpec,
    sink: CaptureSink,
    args: string[],
    where: string,
    expression: string,
    id: string,
  ): Promise<FileCapture> {
    await mkdir(backend.tools.workDir, { recursive: true });
    const etl = join(backend.tools.workDir, `${FILE_PREFIX}${id}.etl`);
    await mustRun(backend.tools.pktmon, args, 'starting pktmon');
    sink.notice?.(
      'CNSPECT_FILE_MODE',
      `pktmon writes the packets to ${etl} on the node (Windows gives packet bytes only in a file); they ` +
        `are converted and sent when the capture stops`,
    );
    return new FileCapture(backend, sink, etl, `${where}, to ${etl}`, expression, spec.snaplen);
  }

  stop(): Promise<void> {
    this.stopping ??= this.finish().then(
      () => this.endedResolve({}),
      (err: Error) => {
        this.endedResolve({ error: err });
        throw err;
      },
    );
    return this.stopping;
  }

  private async finish(): Promise<void> {
    const pcapng = this.etl.replace(/\.etl$/, '.pcapng');
    let failure: Error | undefined;
    try {
      await mustRun(this.backend.tools.pktmon, ['stop'], 'stopping pktmon');
      this.sink.notice?.('CNSPECT_CONVERTING', `converting ${this.etl} with pktmon etl2pcap`);
      await mustRun(
        this.backend.tools.pktmon,
        ['etl2pcap', this.etl, '--out', pcapng],
        'converting the pktmon log to pcapng',
        15 * 60_000,
      );
      let skipped = 0;
      let n = 0;
      const linkTypes: number[] = [];
      await readPcapng(
        pcapng,
        (i, id) => {
          this.names.set(id + 1, i.name || i.description || `pktmon${id + 1}`);
          linkTypes[id] = i.linkType;
        },
        async (p) => {
          if (++n % 256 === 0) await this.sink.drain?.();
          // One link type per session stream: pktmon writes Ethernet; anything else is counted, not mixed in.
          if (linkTypes[p.interfaceId] !== this.linkType) {
            skipped++;
            return;
          }
          this.sink.packet({
            sec: p.sec,
            nsec: p.nsec,
            originalLength: p.originalLength,
            data: p.data,
            ifindex: p.interfaceId + 1,
            direction: p.direction === 1 ? Dir.In : p.direction === 2 ? Dir.Out : Dir.Unknown,
          });
        },
      );
      if (skipped) this.sink.notice?.('CNSPECT_SKIPPED', `${skipped} packets of another link type were left out`, true);
      await rm(this.etl, { force: true });
    } catch (err) {
      const e = err as Error;
      failure = new CnspectError(
        err instanceof CnspectError ? err.code : 'CNSPECT_TOOL_FAILED',
        `${e.message} (the capture is kept on the node in ${this.etl})`,
      );
    } finally {
      await rm(pcapng, { force: true });
    }
    await this.backend.removeFilters().catch((err: Error) => {
      failure ??= err;
    });
    if (failure) throw failure;
  }
}
