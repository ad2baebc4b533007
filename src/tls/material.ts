// mTLS material on disk: which files a `cnspect certs init` directory holds, and reading them.
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CnspectError } from '../errors.js';

export const TLS_FILES = {
  ca: 'ca.crt',
  caKey: 'ca.key',
  agentCert: 'agent.crt',
  agentKey: 'agent.key',
  clientCert: 'client.crt',
  clientKey: 'client.key',
} as const;

export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export function readTlsFiles(files: { ca?: string; cert?: string; key?: string }, role: string): TlsMaterial {
  const read = (path: string | undefined, what: string): Buffer => {
    if (!path)
      throw new CnspectError('CNSPECT_TLS', `${role} needs ${what}`, {
        hint: 'create the files with `cnspect certs init DIR --host NAME`',
      });
    try {
      return readFileSync(path);
    } catch (err) {
      throw new CnspectError('CNSPECT_TLS', `cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  const m = {
    ca: read(files.ca, 'a CA certificate (--tls-ca)'),
    cert: read(files.cert, 'a certificate (--tls-cert)'),
    key: read(files.key, 'a private key (--tls-key)'),
  };
  checkTlsMaterial(m, { ca: files.ca!, cert: files.cert!, key: files.key! }, role);
  return m;
}

/** The files hold what they should, and the key is the certificate's: errors name the files. */
export function checkTlsMaterial(m: TlsMaterial, names: { ca: string; cert: string; key: string }, role: string): void {
  const bad = (message: string, cause?: unknown): never => {
    throw new CnspectError('CNSPECT_TLS', `${role}: ${message}`, {
      cause,
      hint: 'use the files `cnspect certs init` (or the lab, or deploy) made, as a set',
    });
  };
  let cert: X509Certificate | undefined;
  try {
    new X509Certificate(m.ca);
  } catch (err) {
    bad(`${names.ca} is not a PEM certificate (the CA)`, err);
  }
  try {
    cert = new X509Certificate(m.cert);
  } catch (err) {
    bad(`${names.cert} is not a PEM certificate`, err);
  }
  let key: KeyObject | undefined;
  try {
    key = createPrivateKey(m.key);
  } catch (err) {
    bad(`${names.key} is not a PEM private key`, err);
  }
  if (!cert!.checkPrivateKey(key!))
    bad(`the certificate ${names.cert} and the key ${names.key} do not belong together`);
}

/** The client's files in a `certs init` directory. */
export function clientFilesIn(dir: string): { ca: string; cert: string; key: string } {
  return { ca: join(dir, TLS_FILES.ca), cert: join(dir, TLS_FILES.clientCert), key: join(dir, TLS_FILES.clientKey) };
}

export function agentFilesIn(dir: string): { ca: string; cert: string; key: string } {
  return { ca: join(dir, TLS_FILES.ca), cert: join(dir, TLS_FILES.agentCert), key: join(dir, TLS_FILES.agentKey) };
}

/** One node's agent certificate in a per-node directory (`certs init --node`, the lab, deploy's Secret). */
export function nodeFilesIn(dir: string, node: string): { ca: string; cert: string; key: string } {
  return { ca: join(dir, TLS_FILES.ca), cert: join(dir, `${node}.crt`), key: join(dir, `${node}.key`) };
}
