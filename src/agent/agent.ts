// The agent service: the same object answers in-process calls (`capture local`) and gRPC calls
// from remote CLIs. It validates every request at this boundary, keeps sessions apart, and
// enforces its limits.
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { CnspectError } from '../errors.js';
import type { CaptureBackend, SelfConnection } from '../backends/backend.js';
import {
  type CaptureEvent,
  type CaptureRequest,
  type CountersResponse,
  type DatapathResponse,
  type InfoResponse,
  type PodRef,
  type PortCountersResponse,
  CaptureType,
  DatapathSection,
  StopReason,
} from '../gen/cnspect/v1/agent.js';
import { validateFilter } from '../packet/filter.js';
import { CaptureSession, DEFAULT_COUNTER_INTERVAL_MS, type SessionOptions } from './session.js';
import { VERSION } from '../version.js';
import { ByteBudget } from './queue.js';
import type { AgentApi } from '../contract/agent-api.js';

export const DEFAULT_SNAPLEN = 262144;
export const MIN_SNAPLEN = 64;
export const MAX_DURATION_MS = 24 * 3600 * 1000;
const IFACE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}$/;
const NETNS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Session ids are 12 hex digits (CaptureSession.id). */
const SESSION_ID = /^[0-9a-f]{12}$/;

function validateSessionId(id: string): string {
  if (!SESSION_ID.test(id))
    throw new CnspectError(
      'CNSPECT_BAD_REQUEST',
      `invalid session id ${JSON.stringify(id)}; allowed: 12 hex digits, as in the started line`,
    );
  return id;
}

export function validateInterfaceName(name: string): string {
  if (!IFACE_NAME.test(name)) {
    throw new CnspectError(
      'CNSPECT_BAD_REQUEST',
      `invalid interface name ${JSON.stringify(name)}; allowed: "any" or a Linux interface name of 1-15 ` +
        `characters [A-Za-z0-9_.:@-] not starting with '-'`,
    );
  }
  return name;
}

export interface AgentLimits {
  maxSessions: number;
  /**
   * Bytes all sessions together may hold for slow clients; past it packets are counted as stream
   * drops. The default keeps 8 stalled sessions inside the DaemonSet's 512Mi limit.
   */
  streamBudgetBytes: number;
}

export const DEFAULT_STREAM_BUDGET_BYTES = 192 << 20;
export const DEFAULT_LIMITS: AgentLimits = { maxSessions: 8, streamBudgetBytes: DEFAULT_STREAM_BUDGET_BYTES };

/** Flow selection runs in the agent on top of a full capture, so every backend that captures all offers it. */
export function offeredTypes(backend: CaptureBackend): CaptureType[] {
  const types = new Set(backend.captureTypes);
  if (types.has(CaptureType.CAPTURE_TYPE_ALL)) types.add(CaptureType.CAPTURE_TYPE_FLOW);
  return [...types];
}

/** Who asked for a session, as the gRPC server saw it (absent for in-process calls). */
export interface SessionOrigin {
  /** The client's address, "ip:port". */
  peer: string;
  /** The client's TCP connection to the agent, when it came over TCP. */
  connection?: SelfConnection;
  /** The client certificate's subject, for the audit log. */
  client?: string;
}

/** Checks a request from the wire and turns it into session options. */
export function validateCaptureRequest(
  req: CaptureRequest,
  node: string,
  backend: CaptureBackend,
  origin?: SessionOrigin,
): SessionOptions {
  const type = req.type === CaptureType.CAPTURE_TYPE_UNSPECIFIED ? CaptureType.CAPTURE_TYPE_ALL : req.type;
  const offered = offeredTypes(backend);
  if (!offered.includes(type)) {
    const names = offered.map((t) => CaptureType[t].replace('CAPTURE_TYPE_', '').toLowerCase()).join(', ');
    throw new CnspectError(
      'CNSPECT_UNSUPPORTED',
      `capture type ${CaptureType[type]?.replace('CAPTURE_TYPE_', '').toLowerCase() ?? req.type} is not ` +
        `available on this agent (backend ${backend.name} supports: ${names})`,
      { hint: 'use --type all' },
    );
  }
  if (req.durationMs > BigInt(MAX_DURATION_MS))
    throw new CnspectError(
      'CNSPECT_BAD_REQUEST',
      `duration ${req.durationMs} ms is above the agent's limit of ${MAX_DURATION_MS} ms`,
    );
  const snaplen = req.snaplenBytes === 0 ? DEFAULT_SNAPLEN : req.snaplenBytes;
  if (snaplen < MIN_SNAPLEN || snaplen > DEFAULT_SNAPLEN)
    throw new CnspectError(
      'CNSPECT_BAD_REQUEST',
      `snaplen ${snaplen} is out of range; allowed: ${MIN_SNAPLEN}-${DEFAULT_SNAPLEN} bytes`,
    );
  const iface = req.interface === '' ? 'any' : req.interface === 'any' ? 'any' : validateInterfaceName(req.interface);
  if (req.netns && !NETNS_NAME.test(req.netns)) {
    throw new CnspectError(
      'CNSPECT_BAD_REQUEST',
      `invalid network namespace name ${JSON.stringify(req.netns)}; allowed: a name under /run/netns of ` +
        `1-64 characters [A-Za-z0-9_.-] not starting with '-' or '.'`,
    );
  }
  if (req.counterIntervalMs !== 0 && (req.counterIntervalMs < 100 || req.counterIntervalMs > 60_000)) {
    throw new CnspectError(
      'CNSPECT_BAD_REQUEST',
      `counter interval ${req.counterIntervalMs} ms is out of range; allowed: 100-60000`,
    );
  }
  const pods = validatePods(req);
  return {
    spec: {
      filter: validateFilter(req.filter),
      type,
      snaplen,
      interface: iface,
      netns: req.netns,
      pods,
      inPod: req.inPod,
      needPacketBytes: req.needPacketBytes,
      node,
      // A capture never records the stream that carries it, unless the client asked for that.
      self: req.includeSelf ? undefined : origin?.connection,
    },
    node,
    durationMs: Number(req.durationMs),
    maxPackets: Number(req.maxPackets),
    maxBytes: Number(req.maxBytes),
    countersOnly: req.countersOnly,
    counterIntervalMs: req.counterIntervalMs || DEFAULT_COUNTER_INTERVAL_MS,
  };
}

const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
export const MAX_PODS_PER_SESSION = 32;

const badRequest = (message: string): never => {
  throw new CnspectError('CNSPECT_BAD_REQUEST', message);
};

export function validatePodRef(p: PodRef): PodRef {
  if (!K8S_NAME.test(p.name) || !K8S_NAME.test(p.namespace))
    badRequest(`invalid pod ${JSON.stringify(`${p.namespace}/${p.name}`)}; allowed: Kubernetes names`);
  if (p.ips.length === 0 || p.ips.length > 4 || p.ips.some((ip) => isIP(ip) === 0))
    badRequest(`pod ${p.namespace}/${p.name} needs 1-4 IP addresses; got ${JSON.stringify(p.ips)}`);
  return { namespace: p.namespace, name: p.name, ips: [...p.ips] };
}

function validatePods(req: CaptureRequest): PodRef[] {
  if (req.pods.length > MAX_PODS_PER_SESSION)
    badRequest(`${req.pods.length} pods in one session; allowed: at most ${MAX_PODS_PER_SESSION}`);
  if (req.inPod && req.pods.length !== 1) badRequest(`in_pod captures inside one pod; got ${req.pods.length}`);
  if (req.pods.length && (req.netns || (req.interface && req.interface !== 'any')))
    badRequest("pods cannot be combined with an interface or a network namespace: the agent finds the pods' own");
  return req.pods.map(validatePodRef);
}

export class Agent implements AgentApi {
  private readonly sessions = new Map<string, CaptureSession>();
  readonly node: string;
  /** Bytes queued for clients by every session together. */
  readonly streamBudget: ByteBudget;

  private readonly limits: AgentLimits;

  constructor(
    private readonly backend: CaptureBackend,
    limits: Partial<AgentLimits> = {},
    node = hostname(),
  ) {
    this.node = node;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.streamBudget = new ByteBudget(this.limits.streamBudgetBytes);
  }

  async info(): Promise<InfoResponse> {
    return {
      version: VERSION,
      os: this.backend.os,
      hostname: this.node,
      backend: this.backend.name,
      captureTypes: offeredTypes(this.backend),
      runningSessions: this.sessions.size,
      maxSessions: this.limits.maxSessions,
    };
  }

  /** Validates and starts a session; the returned session's `events` carry everything after. */
  async startSession(req: CaptureRequest, origin?: SessionOrigin): Promise<CaptureSession> {
    const options = validateCaptureRequest(req, this.node, this.backend, origin);
    if (this.sessions.size >= this.limits.maxSessions) {
      throw new CnspectError(
        'CNSPECT_TOO_MANY_SESSIONS',
        `agent on ${this.node} already runs ${this.sessions.size} captures (limit ${this.limits.maxSessions})`,
        { hint: 'stop one (Ctrl+C in its terminal) or wait for it to end' },
      );
    }
    const session = new CaptureSession(this.backend, options, this.streamBudget);
    this.sessions.set(session.id, session);
    try {
      await session.start();
    } catch (err) {
      this.sessions.delete(session.id);
      await session.stop(StopReason.STOP_REASON_ERROR);
      throw err;
    }
    void session.ended.then(() => this.sessions.delete(session.id));
    return session;
  }

  async *capture(req: CaptureRequest, signal?: AbortSignal): AsyncIterable<CaptureEvent> {
    const session = await this.startSession(req);
    const onAbort = (): void => {
      void session.stop(StopReason.STOP_REASON_CANCELLED);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    try {
      for await (const ev of session.events) yield ev;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await session.stop(StopReason.STOP_REASON_CANCELLED);
    }
  }

  async stopCapture(sessionId: string): Promise<boolean> {
    const session = this.sessions.get(validateSessionId(sessionId));
    if (!session)
      throw new CnspectError(
        'CNSPECT_SESSION_NOT_FOUND',
        `no capture session ${JSON.stringify(sessionId)} on ${this.node}`,
      );
    await session.stop(StopReason.STOP_REASON_STOPPED);
    return true;
  }

  async counters(sessionId = '', includeHidden = false): Promise<CountersResponse> {
    if (sessionId) validateSessionId(sessionId);
    const list = [...this.sessions.values()].filter((s) => !sessionId || s.id === sessionId);
    if (sessionId && list.length === 0)
      throw new CnspectError(
        'CNSPECT_SESSION_NOT_FOUND',
        `no capture session ${JSON.stringify(sessionId)} on ${this.node}`,
      );
    return {
      node: this.node,
      sessions: await Promise.all(
        list.map(async (s) => ({
          sessionId: s.id,
          bpfExpression: s.filterExpression,
          interface: s.options.spec.interface,
          netns: s.options.spec.netns,
          startedNs: s.startedNs,
          counters: s.snapshot(),
          interfaces: await s.interfaceStats(includeHidden),
        })),
      ),
    };
  }

  async portCounters(pod: PodRef, detailed: boolean): Promise<PortCountersResponse> {
    const ref = validatePodRef(pod);
    if (!this.backend.portCounters)
      throw new CnspectError('CNSPECT_UNSUPPORTED', `backend ${this.backend.name} has no port counters`);
    const r = await this.backend.portCounters(ref, detailed, this.node);
    return {
      node: this.node,
      pod: ref,
      ports: r.ports.map((p) => ({
        role: p.role,
        stats: {
          interface: p.name,
          rxPackets: BigInt(p.stats.rxPackets),
          rxBytes: BigInt(p.stats.rxBytes),
          txPackets: BigInt(p.stats.txPackets),
          txBytes: BigInt(p.stats.txBytes),
          rxDropped: BigInt(p.stats.rxDropped),
          txDropped: BigInt(p.stats.txDropped),
          rxErrors: BigInt(p.stats.rxErrors),
          txErrors: BigInt(p.stats.txErrors),
          onCapturePath: false,
        },
      })),
      protocolCounters: r.protocolCounters.map((c) => ({ group: c.group, name: c.name, value: BigInt(c.value) })),
    };
  }

  async datapath(section: DatapathSection): Promise<DatapathResponse> {
    if (!Object.values(DatapathSection).includes(section) || section === DatapathSection.UNRECOGNIZED) {
      throw new CnspectError(
        'CNSPECT_BAD_REQUEST',
        `unknown datapath section ${section}; allowed: 0-4 (all, endpoints, loadbalancers, namespaces, networks)`,
      );
    }
    if (!this.backend.datapath)
      throw new CnspectError('CNSPECT_UNSUPPORTED', `backend ${this.backend.name} cannot read the datapath`);
    const all = await this.backend.datapath(this.node);
    const want = (s: DatapathSection): boolean => section === DatapathSection.DATAPATH_SECTION_ALL || section === s;
    return {
      ...all,
      endpoints: want(DatapathSection.DATAPATH_SECTION_ENDPOINTS) ? all.endpoints : [],
      networks: want(DatapathSection.DATAPATH_SECTION_NETWORKS) ? all.networks : [],
      loadBalancers: want(DatapathSection.DATAPATH_SECTION_LOADBALANCERS) ? all.loadBalancers : [],
      namespaces: want(DatapathSection.DATAPATH_SECTION_NAMESPACES) ? all.namespaces : [],
    };
  }

  /** Stops every session (agent exit) and waits for each to end. */
  async close(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.stop(StopReason.STOP_REASON_AGENT_EXIT)));
  }
}
