// A remote agent behind the same AgentApi as the in-process one, over gRPC with mutual TLS
// (or a local Unix socket).
import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { CnspectError, isErrorCode } from '../errors.js';
import type { AgentApi } from '../contract/agent-api.js';
import {
  AgentClient,
  type CaptureEvent,
  type CaptureRequest,
  type CountersResponse,
  type InfoResponse,
  type PodRef,
  type PortCountersResponse,
  type DatapathResponse,
  type DatapathSection,
} from '../gen/cnspect/v1/agent.js';
import type { TlsMaterial } from '../tls/material.js';
import { clientCertificateProblem, probeTls } from './tls-diagnose.js';

export const UNARY_DEADLINE_MS = 10_000;
/** What the client says when an agent's certificate names another node. */
export const IDENTITY_MISMATCH = "the agent's certificate is for another node";

/** Turns a gRPC failure into a coded error naming the node. */
export function fromServiceError(err: unknown, node: string): CnspectError {
  const e = err as Partial<grpc.ServiceError>;
  const code = e.metadata?.get('cnspect-code')[0];
  const hint = e.metadata?.get('cnspect-hint')[0];
  const details = e.details ?? (err instanceof Error ? err.message : String(err));
  if (typeof code === 'string' && isErrorCode(code)) {
    return new CnspectError(code, details, {
      hint: typeof hint === 'string' ? hint : undefined,
      context: { node },
      cause: err,
    });
  }
  const mismatch = details.indexOf(IDENTITY_MISMATCH);
  if (mismatch >= 0) {
    const what = details
      .slice(mismatch)
      .replace(/\. Resolution note:.*$/s, '')
      .trim();
    return new CnspectError('CNSPECT_TLS', `refusing agent ${node}: ${what}`, {
      hint: "the address reached another node's agent (or the inventory names the wrong node)",
      context: { node },
      cause: err,
    });
  }
  if (/certificate|handshake|SSL|TLS|alert/i.test(details)) {
    return new CnspectError('CNSPECT_TLS', `TLS handshake with agent ${node} failed: ${details}`, {
      hint: 'use the client certificate issued by the same CA as the agent (cnspect certs init)',
      context: { node },
      cause: err,
    });
  }
  if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED) {
    return new CnspectError('CNSPECT_AGENT_UNREACHABLE', `agent ${node} is unreachable: ${details}`, {
      hint: 'check that the agent runs and listens on that address and port',
      context: { node },
      cause: err,
    });
  }
  return new CnspectError('CNSPECT_AGENT_ERROR', `agent ${node} failed: ${details}`, { context: { node }, cause: err });
}

export class RemoteAgent implements AgentApi {
  private readonly client: AgentClient;

  /**
   * `address` is "host:port" (mTLS, `tls` required) or "unix:/path". The agent's certificate must
   * name the node meant (`node`) or, unless `names` says otherwise, the address dialled: one
   * node's key never passes for another's.
   */
  private readonly serverName: string = '';

  constructor(
    readonly address: string,
    private readonly tls: TlsMaterial | undefined,
    readonly node: string = address,
    names?: string[],
  ) {
    let creds: grpc.ChannelCredentials;
    const options: grpc.ChannelOptions = { 'grpc.max_receive_message_length': 16 << 20 };
    if (address.startsWith('unix:')) creds = grpc.credentials.createInsecure();
    else {
      if (!tls)
        throw new CnspectError('CNSPECT_TLS', `connecting to ${address} needs TLS material`, {
          hint: 'pass --tls-dir or --tls-ca/--tls-cert/--tls-key',
        });
      const host = address.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
      const accepted = names ?? [...new Set([node, host])];
      // TLS SNI may not carry an IP (RFC 6066): send the node's name, and check the names ourselves.
      this.serverName = accepted.find((n) => isIP(n) === 0) ?? 'cnspect-agent';
      options['grpc.ssl_target_name_override'] = this.serverName;
      creds = grpc.credentials.createSsl(tls.ca, tls.key, tls.cert, {
        checkServerIdentity: (_name, cert) =>
          accepted.some((n) => checkServerIdentity(n, cert) === undefined)
            ? undefined
            : new Error(
                `${IDENTITY_MISMATCH}: it names ${cert.subjectaltname ?? cert.subject?.CN ?? 'nothing'}, ` +
                  `not ${accepted.join(' or ')}`,
              ),
      });
    }
    this.client = new AgentClient(address, creds, options);
  }

  /** A failure to connect becomes CNSPECT_TLS with the reason when TLS was what failed. */
  private async explain(err: unknown): Promise<CnspectError> {
    const e = fromServiceError(err, this.node);
    if (e.code !== 'CNSPECT_AGENT_UNREACHABLE' || !this.tls || this.address.startsWith('unix:')) return e;
    const m = /^(.*):(\d+)$/.exec(this.address);
    const local = clientCertificateProblem(this.tls.cert, this.tls.ca);
    const remote = m
      ? await probeTls(m[1]!.replace(/^\[(.*)\]$/, '$1'), Number(m[2]), this.tls, this.serverName)
      : undefined;
    const reason = remote ?? local;
    if (!reason) return e;
    return new CnspectError(
      'CNSPECT_TLS',
      `TLS with agent ${this.node} failed: ${reason}${local && remote ? `; ${local}` : ''}`,
      {
        hint:
          'use the client certificate of this deployment (cnspect certs init / cnspect deploy), within ' +
          'its validity',
        context: { node: this.node },
        cause: err,
      },
    );
  }

  private unaryCall<Req, Res>(
    method: (
      req: Req,
      md: grpc.Metadata,
      opts: Partial<grpc.CallOptions>,
      cb: (err: grpc.ServiceError | null, res: Res) => void,
    ) => unknown,
    req: Req,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(this.client, req, new grpc.Metadata(), { deadline: Date.now() + UNARY_DEADLINE_MS }, (err, res) => {
        if (err) void this.explain(err).then(reject);
        else resolve(res);
      });
    });
  }

  info(): Promise<InfoResponse> {
    return this.unaryCall(this.client.info, {});
  }

  async stopCapture(sessionId: string): Promise<boolean> {
    return (await this.unaryCall(this.client.stopCapture, { sessionId })).stopped;
  }

  counters(sessionId = '', includeHidden = false): Promise<CountersResponse> {
    return this.unaryCall(this.client.counters, { sessionId, includeHidden });
  }

  datapath(section: DatapathSection): Promise<DatapathResponse> {
    return this.unaryCall(this.client.datapath, { section });
  }

  portCounters(pod: PodRef, detailed: boolean): Promise<PortCountersResponse> {
    return this.unaryCall(this.client.portCounters, { pod, detailed });
  }

  async *capture(req: CaptureRequest, signal?: AbortSignal): AsyncIterable<CaptureEvent> {
    const call = this.client.capture(req);
    const onAbort = (): void => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const ev of call as AsyncIterable<CaptureEvent>) yield ev;
    } catch (err) {
      if ((err as grpc.ServiceError).code === grpc.status.CANCELLED && signal?.aborted) return;
      throw await this.explain(err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
