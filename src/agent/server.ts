// The agent's gRPC face. Over TCP it only speaks mutual TLS: the client must present a
// certificate signed by the deployment's CA, or the handshake fails. The agent terminates TLS
// itself (and hands the connection to grpc-js) so that every connection accepted or refused,
// with the client's subject or the reason, reaches the audit log.
// A Unix socket (root-only directory) serves local tools such as `cnspect counter`.
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { CnspectError, ERROR_CODES } from '../errors.js';
import { AgentService, type AgentServer, StopReason } from '../gen/cnspect/v1/agent.js';
import { type AddressInfo, isIP } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { type AuditSink, subjectText } from './audit.js';
import type { Agent, SessionOrigin } from './agent.js';
import { admit, MAX_REQUEST_BYTES, tolerantService } from './request-limits.js';
import type { TlsMaterial } from '../tls/material.js';

export interface ServeOptions {
  /** "HOST:PORT" (mTLS, `tls` required) or "unix:/path" (file permissions guard it). */
  listen: string;
  tls?: TlsMaterial;
  /** Where audit events go (connections, sessions, refused requests); none by default. */
  audit?: AuditSink;
}

export interface RunningServer {
  /** Bound TCP port (0 for a Unix socket). */
  port: number;
  close(): Promise<void>;
}

export function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  const metadata = new grpc.Metadata();
  if (err instanceof CnspectError) {
    metadata.set('cnspect-code', err.code);
    if (err.hint) metadata.set('cnspect-hint', err.hint);
    return { code: ERROR_CODES[err.code].grpc, details: capDetails(err.message), metadata };
  }
  metadata.set('cnspect-code', 'CNSPECT_INTERNAL');
  return {
    code: grpc.status.INTERNAL,
    details: capDetails(err instanceof Error ? err.message : String(err)),
    metadata,
  };
}

/** Error details travel in an HTTP/2 header: never let a message grow it past what peers accept. */
const MAX_DETAILS_CHARS = 2000;
const capDetails = (text: string): string =>
  text.length > MAX_DETAILS_CHARS ? `${text.slice(0, MAX_DETAILS_CHARS)}… (${text.length} characters)` : text;

/** "1.2.3.4:5678", "::ffff:1.2.3.4:5678" or "fd00::1:5678" (grpc-js does not bracket IPv6) → address and port. */
export function parsePeer(peer: string): { ip: string; port: number } | undefined {
  const i = peer.lastIndexOf(':');
  if (i < 0) return undefined;
  let ip = peer.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(peer.slice(i + 1));
  if (ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4) ip = ip.slice(7);
  if (isIP(ip) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { ip, port };
}

export async function serveAgent(agent: Agent, options: ServeOptions): Promise<RunningServer> {
  let port = 0;
  const audit: AuditSink = options.audit ?? (() => undefined);
  /** Client certificate subject per "ip:port" of each open TLS connection. */
  const clients = new Map<string, string>();
  const originOf = (call: { getPeer(): string }): SessionOrigin => {
    const peer = call.getPeer();
    const tcp = port > 0 ? parsePeer(peer) : undefined;
    return {
      peer,
      client: clients.get(peer) ?? '',
      connection: tcp && { peerIp: tcp.ip, peerPort: tcp.port, agentPort: port },
    };
  };
  const refused = (method: string, call: { getPeer(): string }, err: unknown): void => {
    const o = originOf(call);
    audit({
      event: 'request-refused',
      peer: o.peer,
      client: o.client ?? '',
      method,
      code: err instanceof CnspectError ? err.code : 'CNSPECT_INTERNAL',
      message: (err as Error).message?.slice(0, 200) ?? String(err),
    });
  };
  function unary<Req, Res>(method: string, fn: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      Promise.resolve()
        .then(() => fn(admit(call.request, method)))
        .then(
          (res) => callback(null, res),
          (err: unknown) => {
            refused(method, call, err);
            callback(toServiceError(err) as grpc.ServiceError);
          },
        );
    };
  }
  const impl: AgentServer = {
    info: unary('Info', () => agent.info()),
    stopCapture: unary('StopCapture', async (req) => ({ stopped: await agent.stopCapture(req.sessionId) })),
    counters: unary('Counters', (req) => agent.counters(req.sessionId, req.includeHidden)),
    datapath: unary('Datapath', (req) => agent.datapath(req.section)),
    portCounters: unary('PortCounters', async (req) => {
      if (!req.pod) throw new CnspectError('CNSPECT_BAD_REQUEST', 'port counters need a pod');
      return agent.portCounters(req.pod, req.detailed);
    }),
    capture: (call) => {
      void (async () => {
        let session: Awaited<ReturnType<typeof agent.startSession>>;
        const origin = originOf(call);
        try {
          session = await agent.startSession(admit(call.request, 'Capture'), origin);
        } catch (err) {
          refused('Capture', call, err);
          call.emit('error', toServiceError(err));
          return;
        }
        const who = { peer: origin.peer, client: origin.client ?? '', session: session.id };
        audit({
          event: 'session-started',
          ...who,
          filter: session.filterExpression,
          capturePoint: session.capturePoint,
        });
        void session.ended.then(() => {
          const c = session.snapshot();
          const end = session.outcome();
          audit({
            event: 'session-ended',
            ...who,
            reason: end.reason,
            packets: Number(c.packets),
            bytes: Number(c.bytes),
            ...(end.error ? { error: end.error } : {}),
          });
        });
        // A client that goes away (disconnect, Ctrl+C twice, crash) stops its session.
        call.on('cancelled', () => {
          void session.stop(StopReason.STOP_REASON_CANCELLED);
        });
        try {
          for await (const ev of session.events) {
            if (call.cancelled) break;
            if (!call.write(ev))
              await Promise.race([once(call, 'drain'), once(call, 'cancelled'), once(call, 'close')]);
          }
        } finally {
          await session.stop(StopReason.STOP_REASON_CANCELLED);
          if (!call.cancelled) call.end();
        }
      })();
    },
  };
  const server = new grpc.Server({
    'grpc.max_send_message_length': 16 << 20,
    'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
  });
  server.addService(tolerantService(AgentService), impl);
  let tlsServer: TlsServer | undefined;
  if (options.listen.startsWith('unix:')) {
    port = await bind(server, options.listen);
  } else {
    if (!options.tls)
      throw new CnspectError('CNSPECT_TLS', `refusing to listen on ${options.listen} without TLS`, {
        hint: 'pass --tls-cert, --tls-key and --tls-ca (see `cnspect certs init`)',
      });
    // TLS here, HTTP/2 and gRPC in grpc-js over the connection handed to it.
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    tlsServer = createTlsServer(
      {
        ca: options.tls.ca,
        cert: options.tls.cert,
        key: options.tls.key,
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
        minVersion: 'TLSv1.2',
      },
      (socket) => {
        const peer = `${socket.remoteAddress}:${socket.remotePort}`;
        const client = subjectText(socket.getPeerCertificate()?.subject as Record<string, string> | undefined);
        clients.set(peer, client);
        socket.once('close', () => clients.delete(peer));
        audit({ event: 'connection-accepted', peer, client });
        injector.injectConnection(socket);
      },
    );
    tlsServer.on('tlsClientError', (err, socket) => {
      audit({
        event: 'connection-refused',
        peer: `${socket.remoteAddress}:${socket.remotePort}`,
        reason: err.message.replace(/^.*routines::?/, '').slice(0, 200),
      });
    });
    port = await listenTcp(tlsServer, options.listen);
  }
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        tlsServer?.close();
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

function bind(server: grpc.Server, address: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => {
      if (err)
        reject(new CnspectError('CNSPECT_BAD_FLAG', `cannot listen on ${address}: ${err.message}`, { cause: err }));
      else resolve(p);
    });
  });
}

function listenTcp(tlsServer: TlsServer, listen: string): Promise<number> {
  const m = /^(?:\[(.*)\]|(.*)):(\d+)$/.exec(listen);
  const host = m?.[1] ?? m?.[2] ?? '';
  return new Promise<number>((resolve, reject) => {
    tlsServer.once('error', (err) =>
      reject(new CnspectError('CNSPECT_BAD_FLAG', `cannot listen on ${listen}: ${err.message}`, { cause: err })),
    );
    tlsServer.listen(Number(m?.[3] ?? 0), host, () => resolve((tlsServer.address() as AddressInfo).port));
  });
}
