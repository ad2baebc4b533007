// `--server-kind wcnspect`: the same commands against existing wcnspect servers (their published
// proto, packages wcnspect.captures and wcnspect.hcn), so users can switch clients before they
// switch agents. wcnspect servers speak plaintext gRPC and answer in text; the request is
// translated from the one filter model, refusing what wcnspect would silently misread.
import * as grpc from '@grpc/grpc-js';
import { CnspectError } from '../errors.js';
import {
  type CaptureRequest as CnspectCaptureRequest,
  CaptureType,
  Protocol,
  TcpFlag,
} from '../gen/cnspect/v1/agent.js';
import { type CaptureRequest, CaptureServiceClient, PacketType } from '../gen/wcnspect/captures.js';
import { HCNServiceClient, HCNType } from '../gen/wcnspect/hcn.js';
import { fromServiceError } from './agent-client.js';

const PROTOCOL_NAMES: Partial<Record<Protocol, string>> = {
  [Protocol.PROTOCOL_TCP]: 'TCP',
  [Protocol.PROTOCOL_UDP]: 'UDP',
  [Protocol.PROTOCOL_ICMP]: 'ICMP',
  [Protocol.PROTOCOL_ICMPV6]: 'ICMPv6',
};

/** Pure: cnspect's request → wcnspect's (whose filters are text and whose pods are IPs). */
export function toWcnspectRequest(req: CnspectCaptureRequest, nowMs = Date.now()): CaptureRequest {
  const f = req.filter;
  if (f?.exclude.length)
    throw new CnspectError(
      'CNSPECT_FILTER_UNSUPPORTED',
      'wcnspect servers cannot leave packets out: --not has no wcnspect equivalent',
      { hint: 'drop --not, or deploy cnspect agents' },
    );
  const ports = (f?.ports ?? []).map((p) => {
    if (p.first !== p.last)
      throw new CnspectError(
        'CNSPECT_FILTER_UNSUPPORTED',
        `wcnspect servers take single ports, not the range ${p.first}-${p.last}`,
        { hint: 'list the ports one by one' },
      );
    return String(p.first);
  });
  const protocols = (f?.protocols ?? []).map((p) => {
    if (p.tcpFlags.length > 1)
      throw new CnspectError(
        'CNSPECT_FILTER_UNSUPPORTED',
        'wcnspect servers take one TCP flag per protocol (TCP_SYN), not several',
        { hint: 'use -t TCP_SYN,TCP_ACK (either) instead of TCP_SYN_ACK (both)' },
      );
    const flag = p.tcpFlags[0] === undefined ? '' : `_${TcpFlag[p.tcpFlags[0]]!.replace('TCP_FLAG_', '')}`;
    return `${PROTOCOL_NAMES[p.protocol] ?? ''}${flag}`;
  });
  const type =
    req.type === CaptureType.CAPTURE_TYPE_DROP
      ? PacketType.drop
      : req.type === CaptureType.CAPTURE_TYPE_FLOW
        ? PacketType.flow
        : PacketType.all;
  return {
    duration: Math.ceil(Number(req.durationMs) / 1000),
    timestamp: { seconds: BigInt(Math.floor(nowMs / 1000)), nanos: (nowMs % 1000) * 1_000_000 },
    modifier: { pods: req.pods.flatMap((p) => p.ips), packetType: type, countersOnly: req.countersOnly },
    filter: {
      ips: f?.cidrs ?? [],
      protocols,
      ports,
      macs: (f?.macs ?? []).map((m) => m.replace(/:/g, '-').toUpperCase()),
    },
  };
}

export const HCN_TYPES: Record<string, HCNType> = {
  all: HCNType.all,
  endpoints: HCNType.endpoints,
  loadbalancers: HCNType.loadbalancers,
  namespaces: HCNType.namespaces,
  networks: HCNType.networks,
};

export class WcnspectServer {
  private readonly captures: CaptureServiceClient;
  private readonly hcn: HCNServiceClient;

  constructor(
    readonly address: string,
    readonly node: string,
  ) {
    // wcnspect has no TLS: its servers only speak plaintext.
    this.captures = new CaptureServiceClient(address, grpc.credentials.createInsecure());
    this.hcn = new HCNServiceClient(address, grpc.credentials.createInsecure());
  }

  /** The server's text lines, one per response, until it ends the stream or `signal` aborts. */
  async *capture(req: CnspectCaptureRequest, signal?: AbortSignal): AsyncIterable<string> {
    const call = this.captures.startCapture(toWcnspectRequest(req));
    const onAbort = (): void => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const res of call as AsyncIterable<{ result: string }>) yield res.result;
    } catch (err) {
      if ((err as grpc.ServiceError).code === grpc.status.CANCELLED && signal?.aborted) return;
      throw fromServiceError(err, this.node);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private unary<Res>(fn: (cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
    return new Promise((resolve, reject) => {
      fn((err, res) => (err ? reject(fromServiceError(err, this.node)) : resolve(res)));
    });
  }

  stopCapture(): Promise<string> {
    return this.unary<{ result: string }>((cb) => this.captures.stopCapture({}, cb)).then((r) => r.result);
  }

  counters(includeHidden: boolean): Promise<string> {
    return this.unary<{ result: string }>((cb) => this.captures.getCounters({ includeHidden }, cb)).then(
      (r) => r.result,
    );
  }

  vfpCounters(podIp: string, verbose: boolean): Promise<string> {
    return this.unary<{ result: string }>((cb) => this.captures.getVfpCounters({ pod: podIp, verbose }, cb)).then(
      (r) => r.result,
    );
  }

  hcnLogs(section: string, verbose: boolean): Promise<string> {
    const type = HCN_TYPES[section];
    if (type === undefined)
      throw new CnspectError(
        'CNSPECT_BAD_FLAG',
        `invalid hns section ${JSON.stringify(section)}; allowed: ${Object.keys(HCN_TYPES).join(', ')}`,
      );
    return this.unary<{ hcnResult: Buffer }>((cb) => this.hcn.getHcnLogs({ hcntype: type, verbose }, cb)).then((r) =>
      Buffer.from(r.hcnResult).toString('utf8'),
    );
  }

  close(): void {
    this.captures.close();
    this.hcn.close();
  }
}
