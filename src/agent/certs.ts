// mTLS material: `cnspect certs init` makes a CA, an agent certificate (server auth, with the
// agent's host names/IPs as SANs) and a client certificate (client auth), all ECDSA P-256.
import { webcrypto } from 'node:crypto';
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it loaded first
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { CnspectError } from '../errors.js';
import { TLS_FILES } from './tls.js';

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
  if (isIP(h) || /^(?=.{1,253}$)[A-Za-z0-9*]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(h)) return h;
  throw new CnspectError('CNSPECT_BAD_FLAG', `invalid --host ${JSON.stringify(h)}; allowed: an IP address or a DNS name`);
}

async function issue(ca: x509.X509Certificate, caKey: CryptoKey, cn: string, usage: 'server' | 'client', hosts: string[]): Promise<{ cert: string; key: string }> {
  const keys = await crypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension([usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    await x509.AuthorityKeyIdentifierExtension.create(ca, false, crypto),
  ];
  if (hosts.length) extensions.push(new x509.SubjectAlternativeNameExtension(hosts.map((h) => ({ type: isIP(h) ? 'ip' as const : 'dns' as const, value: h }))));
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${cn}`, issuer: ca.subject, ...validity(), signingAlgorithm: ALG, publicKey: keys.publicKey, signingKey: caKey, extensions,
  }, crypto);
  return { cert: cert.toString('pem'), key: await keyPem(keys.privateKey) };
}

export interface CertificateSet {
  caCert: string;
  caKey: string;
  agentCert: string;
  agentKey: string;
  clientCert: string;
  clientKey: string;
}

/** Name every agent certificate carries (besides its hosts): clients may check for it when one certificate serves all nodes. */
export const AGENT_SAN = 'cnspect-agent';

async function createCa(caName: string): Promise<{ ca: x509.X509Certificate; caKey: CryptoKey }> {
  const keys = await crypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${caName}`, ...validity(), signingAlgorithm: ALG, keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    ],
  }, crypto);
  return { ca, caKey: keys.privateKey };
}

/** An agent certificate (for `hosts` and AGENT_SAN) and a client certificate issued by `ca`. */
async function issuePair(ca: x509.X509Certificate, caKey: CryptoKey, hosts: string[]): Promise<{ agent: { cert: string; key: string }; client: { cert: string; key: string } }> {
  return {
    agent: await issue(ca, caKey, 'cnspect-agent', 'server', [...new Set([...hosts, AGENT_SAN])]),
    client: await issue(ca, caKey, 'cnspect-client', 'client', []),
  };
}

/** A fresh CA with an agent certificate (for `hosts` and AGENT_SAN) and a client certificate, in memory. */
export async function generateCertificates(hosts: string[], caName = 'cnspect CA'): Promise<CertificateSet> {
  hosts.forEach(validateHostName);
  const { ca, caKey } = await createCa(caName);
  const { agent, client } = await issuePair(ca, caKey, hosts);
  return { caCert: ca.toString('pem'), caKey: await keyPem(caKey), agentCert: agent.cert, agentKey: agent.key, clientCert: client.cert, clientKey: client.key };
}

/**
 * Writes a CA, an agent certificate for `hosts` and a client certificate into `dir`. With
 * an existing CA in `dir`, reuses it so earlier client certificates stay valid.
 */
export async function initCertificates(dir: string, hosts: string[], caName = 'cnspect CA'): Promise<string[]> {
  hosts.forEach(validateHostName);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let ca: x509.X509Certificate;
  let caKey: CryptoKey;
  const caPath = join(dir, TLS_FILES.ca);
  const caKeyPath = join(dir, TLS_FILES.caKey);
  if (existsSync(caPath) && existsSync(caKeyPath)) {
    ca = new x509.X509Certificate(readFileSync(caPath, 'utf8'));
    caKey = await crypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(readFileSync(caKeyPath, 'utf8')), ALG, true, ['sign']);
  } else {
    ({ ca, caKey } = await createCa(caName));
    writeFileSync(caPath, ca.toString('pem'));
    writeFileSync(caKeyPath, await keyPem(caKey), { mode: 0o600 });
  }
  const { agent, client } = await issuePair(ca, caKey, hosts);
  writeFileSync(join(dir, TLS_FILES.agentCert), agent.cert);
  writeFileSync(join(dir, TLS_FILES.agentKey), agent.key, { mode: 0o600 });
  writeFileSync(join(dir, TLS_FILES.clientCert), client.cert);
  writeFileSync(join(dir, TLS_FILES.clientKey), client.key, { mode: 0o600 });
  return Object.values(TLS_FILES).map((f) => join(dir, f));
}

