// The one interface between the agent and an OS: the agent owns sessions, limits and events;
// a backend only starts a capture and reports packets, interfaces and kernel drop figures.
import type { CaptureType, Filter, PodRef } from '../gen/cnspect/v1/agent.js';
import type { Dir } from '../packet/decode.js';

/** An interface's own counters, as the OS keeps them. */
export interface LinkStats {
  rxPackets: number;
  rxBytes: number;
  rxErrors: number;
  rxDropped: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
  txDropped: number;
}

/** A capture request after validation at the agent boundary. */
export interface CaptureSpec {
  filter: Filter;
  type: CaptureType;
  snaplen: number;
  /** "any" or an interface name in the capture namespace. */
  interface: string;
  /** A name under /run/netns, or "" for the agent's own namespace. */
  netns: string;
  /** Pods on this node: capture on their host-side interfaces (or inside the one pod with inPod). */
  pods: PodRef[];
  inPod: boolean;
  /** The client writes packet bytes: a backend whose live view is text only captures to a file instead. */
  needPacketBytes: boolean;
  /** The agent's node name, for messages. */
  node: string;
  /** The client's connection to the agent, to leave out of the capture (unset: keep everything). */
  self?: SelfConnection;
}

/** One TCP connection between the client (peer) and the agent's listening port. */
export interface SelfConnection {
  peerIp: string;
  peerPort: number;
  agentPort: number;
}

export interface CapturedPacket {
  sec: number;
  nsec: number;
  originalLength: number;
  /** Valid only during the callback: copy it to keep it. */
  data: Buffer;
  ifindex: number;
  direction: Dir;
}

/** A drop with everything the agent could learn about it. */
export interface CapturedDrop {
  timeMs: number;
  reason: string;
  reasonCode: number;
  src: string;
  dst: string;
  ipProtocol: number;
  srcPort: number;
  dstPort: number;
  netnsInode: number;
  /** Name of the network namespace (/run/netns name, or "" when it has none). */
  netns: string;
  interface: string;
  count: number;
  /** Where in the datapath, when the OS says (pktmon drop location). */
  location?: string;
}

/** A packet the tool decoded to text without giving its bytes (Windows pktmon real-time). */
export interface CapturedText {
  timeNs: bigint;
  /** The component (interface) index; named through the handle's interfaceName. */
  ifindex: number;
  direction: Dir;
  originalLength: number;
  loggedLength: number;
  summary: string;
  groupId: string;
  appearance: number;
  edge: number;
  frameType: string;
}

export interface CaptureSink {
  packet(p: CapturedPacket): void;
  drops?(d: CapturedDrop[]): void;
  texts?(t: CapturedText[]): void;
  /** Something the user should know (a file being converted, a line the parser did not know). */
  notice?(code: string, message: string, warning?: boolean): void;
  /** Settles when the client has caught up enough: bulk deliveries (file mode) await it now and then. */
  drain?(): Promise<void>;
}

export interface CaptureHandle {
  /** Where it captures, in words (interface, namespace or the pods' interfaces). */
  readonly capturePoint: string;
  readonly linkType: number;
  readonly snaplen: number;
  /** The kernel filter actually used, shown to the user. */
  readonly filterExpression: string;
  /** What was left out on the agent's own account (its connection to the client), in words; "" for nothing. */
  readonly selfExcluded?: string;
  /** Name of an interface index in the capture namespace: a string when known, else a lookup (a new interface). */
  interfaceName(ifindex: number): string | Promise<string>;
  /** Every interface of the capture's namespace with its own counters. */
  interfaceStats?(): Promise<Array<{ name: string; stats: LinkStats }>>;
  /** Latest kernel drop count (asks the tool for fresh figures; they arrive asynchronously). */
  kernelDropped(): number;
  requestStats(): void;
  /** Stops the tool, waits for it to flush, resolves with the final kernel drop count. */
  stop(): Promise<void>;
  /** Settles when the tool ends by itself or after stop(); an `error` means it failed. */
  readonly ended: Promise<{ error?: Error }>;
  /** Packets arrive while stop() runs (a file-mode capture converted at the end). */
  readonly deliversAtStop?: boolean;
}

export interface PortReport {
  ports: Array<{ role: string; name: string; stats: LinkStats }>;
  protocolCounters: Array<{ group: string; name: string; value: number }>;
}

export interface CaptureBackend {
  /** The node's datapath state in the shared schema (wcnspect's hns). */
  datapath?(node: string): Promise<import('../gen/cnspect/v1/agent.js').DatapathResponse>;
  /** A pod's port counters (wcnspect's vfp-counter). */
  portCounters?(pod: PodRef, detailed: boolean, node: string): Promise<PortReport>;
  readonly name: string;
  readonly os: 'linux' | 'windows';
  readonly captureTypes: readonly CaptureType[];
  /** Runs the tools once so the first real capture starts as fast as later ones. Never throws. */
  warmUp?(): Promise<void>;
  /** At agent start: ends what a previous agent left behind (a pktmon session, its filters); says what it did. */
  cleanupLeftovers?(): Promise<string[]>;
  /** Validates what only the OS can check (namespace, interface), starts, resolves once capturing. */
  start(spec: CaptureSpec, sink: CaptureSink): Promise<CaptureHandle>;
}
