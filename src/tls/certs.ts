// mTLS material: `cnspect certs init` makes a CA, an agent certificate (server auth, with the
// agent's host names/IPs as SANs) and a client certificate (client auth), all ECDSA P-256.
import { webcrypto } from 'node:crypto';
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve, sep } from 'node:path';
import * as x509 from '@peculiar/x509';
import { CnspectError } from '../errors.js';
import { nodeFilesIn, TLS_FILES } from './material.js';

const crypto = webcrypto as unknown as Crypto; // node's WebCrypto implements the DOM Crypto interface
x509.cryptoProvider.set(crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
export const CERT_VALIDITY_DAYS = 365;

async function keyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function validity(): { notBefore: Date; notAfter: Date } {
  const notBefore = new Date(Date.now() - 5 * 60_000); // tolerate small clock skew between hosts
  return { notBefore, notAfter: new Date(notBefore.getTime() + CERT_VALIDITY_DAYS * 86_400_000) };
}

export function validateHostName(h: string): string {
  if (
    isIP(h) ||
    /^(?=.{1,253}$)[A-Za-z0-9*]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(h)
  )
    return h;
  throw new CnspectError(
    'CNSPECT_BAD_FLAG',
    `invalid --host ${JSON.stringify(h)}; allowed: an IP address or a DNS name`,
  );
}

export interface IssueOptions {
  cn: string;
  usage: 'server' | 'client';
  /** DNS names and IPs (SANs). */
  hosts: string[];
  /** Validity; default from 5 minutes ago (clock skew) for CERT_VALIDITY_DAYS. */
  notBefore?: Date;
  notAfter?: Date;
}

async function issue(
  ca: x509.X509Certificate,
  caKey: CryptoKey,
  o: IssueOptions,
): Promise<{ cert: string; key: string }> {
  const keys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension([
      o.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
    ]),
    await x509.AuthorityKeyIdentifierExtension.create(ca, false, crypto),
  ];
  if (o.hosts.length)
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        o.hosts.map((h) => ({ type: isIP(h) ? ('ip' as const) : ('dns' as const), value: h })),
      ),
    );
  const v = validity();
  const cert = await x509.X509CertificateGenerator.create(
    {
      subject: `CN=${o.cn}`,
      issuer: ca.subject,
      notBefore: o.notBefore ?? v.notBefore,
      notAfter: o.notAfter ?? v.notAfter,
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: caKey,
      extensions,
    },
    crypto,
  );
  return { cert: cert.toString('pem'), key: await keyPem(keys.privateKey) };
}

/** A node an agent certificate is issued for: its name and the addresses it is dialled at. */
export interface NodeIdentity {
  name: string;
  hosts: string[];
}

/** An agent's certificate names its node (and its addresses): the client checks it reached the node it meant. */
function agentCertificate(
  ca: x509.X509Certificate,
  caKey: CryptoKey,
  node: NodeIdentity,
): Promise<{ cert: string; key: string }> {
  return issue(ca, caKey, { cn: node.name, usage: 'server', hosts: [...new Set([node.name, ...node.hosts])] });
}

const clientCertificate = (ca: x509.X509Certificate, caKey: CryptoKey): Promise<{ cert: string; key: string }> =>
  issue(ca, caKey, { cn: 'cnspect-client', usage: 'client', hosts: [] });

export interface CertificateSet {
  caCert: string;
  caKey: string;
  /** One certificate per node, each naming that node only. */
  agents: Array<{ node: string; cert: string; key: string }>;
  clientCert: string;
  clientKey: string;
}

async function createCa(caName: string): Promise<{ ca: x509.X509Certificate; caKey: CryptoKey }> {
  const keys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: `CN=${caName}`,
      ...validity(),
      signingAlgorithm: ALG,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { ca, caKey: keys.privateKey };
}

function validateNode(n: NodeIdentity): void {
  validateHostName(n.name);
  n.hosts.forEach(validateHostName);
}

/** A fresh CA with one agent certificate per node and a client certificate, in memory (deploy). */
export async function generateCertificates(nodes: NodeIdentity[], caName = 'cnspect CA'): Promise<CertificateSet> {
  nodes.forEach(validateNode);
  const { ca, caKey } = await createCa(caName);
  const agents = await Promise.all(
    nodes.map(async (n) => ({ node: n.name, ...(await agentCertificate(ca, caKey, n)) })),
  );
  const client = await clientCertificate(ca, caKey);
  return {
    caCert: ca.toString('pem'),
    caKey: await keyPem(caKey),
    agents,
    clientCert: client.cert,
    clientKey: client.key,
  };
}

/** The CA in `dir`, created there (key mode 0600) when there is none yet. */
async function caIn(dir: string, caName: string): Promise<{ ca: x509.X509Certificate; caKey: CryptoKey }> {
  makeDirs(dir);
  const caPath = join(dir, TLS_FILES.ca);
  const caKeyPath = join(dir, TLS_FILES.caKey);
  if (existsSync(caPath) && existsSync(caKeyPath)) {
    return {
      ca: new x509.X509Certificate(readFileSync(caPath, 'utf8')),
      caKey: await crypto.subtle.importKey(
        'pkcs8',
        x509.PemConverter.decodeFirst(readFileSync(caKeyPath, 'utf8')),
        ALG,
        true,
        ['sign'],
      ),
    };
  }
  const made = await createCa(caName);
  write(caPath, made.ca.toString('pem'));
  write(caKeyPath, await keyPem(made.caKey), 0o600);
  return made;
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdir spins forever on some pseudo file
 * systems (/proc), so each level is created on its own and the first failure is the answer.
 */
function makeDirs(dir: string): void {
  const full = resolve(dir);
  const parts = full.split(sep).filter(Boolean);
  let at: string = sep;
  for (const p of parts) {
    at = join(at, p);
    if (existsSync(at)) {
      if (!statSync(at).isDirectory())
        throw new CnspectError('CNSPECT_FILE', `cannot create ${dir}: ${at} is not a directory`, {
          hint: 'choose a directory you can write, e.g. ./tls',
        });
      continue;
    }
    try {
      mkdirSync(at, { mode: 0o700 });
    } catch (err) {
      throw new CnspectError('CNSPECT_FILE', `cannot create ${dir}: ${(err as Error).message}`, {
        cause: err,
        hint: 'choose a directory you can write, e.g. ./tls',
      });
    }
  }
}

function write(path: string, text: string, mode = 0o644): void {
  try {
    writeFileSync(path, text, { mode });
  } catch (err) {
    throw new CnspectError('CNSPECT_FILE', `cannot write ${path}: ${(err as Error).message}`, {
      cause: err,
      hint: 'choose a directory you can write',
    });
  }
}

/**
 * Writes a CA, an agent certificate for one node (`hosts`: the names and IPs it is reached by;
 * the first one names it) and a client certificate into `dir`. With an existing CA in `dir`,
 * reuses it so earlier certificates stay valid.
 */
export async function initCertificates(dir: string, hosts: string[], caName = 'cnspect CA'): Promise<string[]> {
  hosts.forEach(validateHostName);
  const { ca, caKey } = await caIn(dir, caName);
  const agent = await agentCertificate(ca, caKey, { name: hosts[0]!, hosts });
  const client = await clientCertificate(ca, caKey);
  write(join(dir, TLS_FILES.agentCert), agent.cert);
  write(join(dir, TLS_FILES.agentKey), agent.key, 0o600);
  write(join(dir, TLS_FILES.clientCert), client.cert);
  write(join(dir, TLS_FILES.clientKey), client.key, 0o600);
  return Object.values(TLS_FILES).map((f) => join(dir, f));
}

/** Like initCertificates, with one agent certificate per node: DIR/NODE.crt and DIR/NODE.key. */
export async function initNodeCertificates(
  dir: string,
  nodes: NodeIdentity[],
  caName = 'cnspect CA',
): Promise<string[]> {
  nodes.forEach(validateNode);
  const { ca, caKey } = await caIn(dir, caName);
  const files = [join(dir, TLS_FILES.ca), join(dir, TLS_FILES.caKey)];
  for (const n of nodes) {
    const agent = await agentCertificate(ca, caKey, n);
    const f = nodeFilesIn(dir, n.name);
    write(f.cert, agent.cert);
    write(f.key, agent.key, 0o600);
    files.push(f.cert, f.key);
  }
  const client = await clientCertificate(ca, caKey);
  write(join(dir, TLS_FILES.clientCert), client.cert);
  write(join(dir, TLS_FILES.clientKey), client.key, 0o600);
  return [...files, join(dir, TLS_FILES.clientCert), join(dir, TLS_FILES.clientKey)];
}

/** Issues one more certificate from the CA in `dir` (tests: expired, not yet valid, wrong usage). */
export async function issueFromCa(dir: string, o: IssueOptions): Promise<{ cert: string; key: string }> {
  const { ca, caKey } = await caIn(dir, 'cnspect CA');
  return issue(ca, caKey, o);
}

/** A self-signed certificate that no CA vouches for (tests). */
export async function selfSigned(cn: string): Promise<{ cert: string; key: string }> {
  const { ca, caKey } = await createCa(cn);
  return { cert: ca.toString('pem'), key: await keyPem(caKey) };
}
