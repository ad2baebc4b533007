// Why a TLS connection to an agent failed, in words: grpc-js only says "Failed to connect". On such
// a failure the client looks at its own certificate (validity, usage) and makes one TLS
// connection of its own to read the alert the agent sent (unknown CA, certificate required …).
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import type { TlsMaterial } from '../tls/material.js';

/** How long the probe waits for the agent's first bytes (HTTP/2 settings) or its alert. */
export const PROBE_TIMEOUT_MS = 3000;

/** What is wrong with the client's own certificate, seen locally; undefined when nothing is. */
export function clientCertificateProblem(certPem: Buffer, caPem: Buffer, now = new Date()): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return 'the client certificate is not a PEM certificate';
  }
  if (now < new Date(cert.validFrom))
    return `the client certificate is not valid yet (valid from ${new Date(cert.validFrom).toISOString()})`;
  if (now > new Date(cert.validTo)) return `the client certificate expired on ${new Date(cert.validTo).toISOString()}`;
  if (cert.checkIssued(cert) && cert.ca)
    return 'the client certificate is self-signed: no CA the agent trusts issued it';
  if (cert.keyUsage && !cert.keyUsage.includes('1.3.6.1.5.5.7.3.2'))
    return 'the client certificate is not for client authentication (is it an agent certificate?)';
  try {
    const ca = new X509Certificate(caPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
      return (
        `the client certificate was issued by ${cert.issuer.replace(/\n/g, ', ')}, not by the ` +
        `deployment's CA (${ca.subject.replace(/\n/g, ', ')})`
      );
  } catch {
    /* an unreadable CA file fails elsewhere, with its name */
  }
  return undefined;
}

const ALERTS: Array<[RegExp, string]> = [
  [/certificate required/i, 'the agent requires a client certificate and got none'],
  [/unknown ca/i, 'the agent does not trust the CA that issued the client certificate (unknown CA)'],
  [/certificate expired/i, 'the agent says the client certificate has expired or is not valid yet'],
  [/unsupported certificate/i, "the agent refused the client certificate's purpose (not for client authentication)"],
  [/bad certificate|certificate unknown|decrypt error/i, 'the agent refused the client certificate (bad certificate)'],
  [/self[- ]signed/i, 'the agent presented a self-signed certificate'],
  [
    /unable to (get|verify)|unknown ca|certificate signature/i,
    "the agent's certificate is not from the CA in the client's TLS material",
  ],
];

/** Reads the agent's alert on a TLS connection of our own; undefined when TLS works or TCP fails. */
export function probeTls(
  host: string,
  port: number,
  tls: TlsMaterial,
  servername: string,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({
      host,
      port,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      servername: servername || undefined,
      ALPNProtocols: ['h2'],
      checkServerIdentity: () => undefined,
    });
    let settled = false;
    const done = (v: string | undefined): void => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(v);
      }
    };
    const timer = setTimeout(() => done(undefined), PROBE_TIMEOUT_MS);
    socket.once('secureConnect', () => socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    let spoke = false;
    socket.once('data', () => {
      spoke = true;
      done(undefined);
    }); // the agent spoke HTTP/2: TLS was fine
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (
        err.code === 'ECONNREFUSED' ||
        err.code === 'EHOSTUNREACH' ||
        err.code === 'ETIMEDOUT' ||
        err.code === 'ECONNRESET'
      ) {
        done(undefined);
        return;
      }
      const known = ALERTS.find(([re]) => re.test(err.message));
      done(known ? `${known[1]} (${err.message.replace(/^.*routines::/, '')})` : err.message);
    });
    // A Node agent refuses an untrusted certificate by closing right after the handshake, without an alert.
    socket.once('end', () =>
      done(
        spoke
          ? undefined
          : 'the agent closed the connection right after the TLS handshake: it refused the client certificate',
      ),
    );
    socket.once('close', () => done(undefined));
  });
}
