// A static inventory: nodes (and how to reach their agents), pods, and the client's TLS
// material. It is how the CLI reaches the lab and any non-Kubernetes hosts. YAML, validated
// strictly: an entry that does not fit is an error naming the entry and the field.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isIP } from 'node:net';
import { parse } from 'yaml';
import { CnspectError } from '../errors.js';

export interface InventoryNode {
  name: string;
  /** host:port of the node's agent. */
  address: string;
  os: 'linux' | 'windows';
}

export interface InventoryPod {
  name: string;
  namespace: string;
  node: string;
  ips: string[];
  labels: Record<string, string>;
}

export interface Inventory {
  path: string;
  nodes: InventoryNode[];
  pods: InventoryPod[];
  /** Client certificate, key and the agents' CA (absolute paths). */
  tls?: { ca: string; cert: string; key: string };
  /** The same material already in memory (read from a cluster Secret). */
  tlsMaterial?: import('../tls/material.js').TlsMaterial;
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function fail(path: string, where: string, what: string): never {
  throw new CnspectError('CNSPECT_FILE', `inventory ${path}: ${where}: ${what}`, {
    hint: 'see "Inventory" in the README for the format',
  });
}

/** Refuses keys a mapping does not know, naming the path (nodes[1].adress, tls.crt …). */
function onlyKeys(o: Record<string, unknown>, allowed: string[], path: string, where: string): void {
  for (const k of Object.keys(o))
    if (!allowed.includes(k)) fail(path, where ? `${where}.${k}` : k, `unknown key (allowed: ${allowed.join(', ')})`);
}

function mapping(v: unknown, path: string, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, where, 'must be a mapping');
  return v as Record<string, unknown>;
}

function str(v: unknown, path: string, where: string, pattern?: RegExp, allowed?: string): string {
  if (typeof v !== 'string' || v === '') fail(path, where, 'must be a non-empty string');
  if (pattern && !pattern.test(v)) fail(path, where, `${JSON.stringify(v)} is not ${allowed}`);
  return v;
}

/** Pure: YAML text → inventory; relative TLS paths are resolved against `path`'s directory. */
export function parseInventory(text: string, path: string): Inventory {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    fail(path, 'YAML', (err as Error).message);
  }
  if (typeof doc !== 'object' || doc === null) fail(path, 'top level', 'must be a mapping with nodes, pods and tls');
  const d = doc as Record<string, unknown>;
  onlyKeys(d, ['nodes', 'pods', 'tls'], path, '');
  if (!Array.isArray(d.nodes) || d.nodes.length === 0) fail(path, 'nodes', 'must be a non-empty list');
  const nodes = d.nodes.map((n: unknown, i): InventoryNode => {
    const where = `nodes[${i}]`;
    const o = mapping(n, path, where);
    onlyKeys(o, ['name', 'address', 'os'], path, where);
    const os = o.os ?? 'linux';
    if (os !== 'linux' && os !== 'windows') fail(path, `${where}.os`, `${JSON.stringify(os)} is not linux or windows`);
    const address = str(
      o.address,
      path,
      `${where}.address`,
      /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/,
      'host:port',
    );
    const port = Number(/:(\d+)$/.exec(address)![1]);
    if (port < 1 || port > 65535) fail(path, `${where}.address`, `port ${port} is out of range; allowed: 1-65535`);
    return {
      name: str(o.name, path, `${where}.name`, NAME, 'a node name (lower-case letters, digits, "-", ".")'),
      address,
      os,
    };
  });
  const nodeNames = new Set(nodes.map((n) => n.name));
  if (nodeNames.size !== nodes.length) fail(path, 'nodes', 'node names must be unique');
  const podsRaw = d.pods ?? [];
  if (!Array.isArray(podsRaw)) fail(path, 'pods', 'must be a list');
  const pods = podsRaw.map((p: unknown, i): InventoryPod => {
    const where = `pods[${i}]`;
    const o = mapping(p, path, where);
    onlyKeys(o, ['name', 'namespace', 'node', 'ips', 'labels'], path, where);
    const node = str(o.node, path, `${where}.node`);
    if (!nodeNames.has(node))
      fail(path, `${where}.node`, `${JSON.stringify(node)} is not one of the nodes (${[...nodeNames].join(', ')})`);
    if (!Array.isArray(o.ips) || o.ips.length === 0)
      fail(path, `${where}.ips`, 'must be a non-empty list of IP addresses');
    const ips = o.ips.map((ip: unknown, j) => {
      if (typeof ip !== 'string' || isIP(ip) === 0)
        fail(path, `${where}.ips[${j}]`, `${JSON.stringify(ip)} is not an IP address`);
      return ip;
    });
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries((o.labels ?? {}) as Record<string, unknown>)) labels[k] = String(v);
    return {
      name: str(o.name, path, `${where}.name`, NAME, 'a pod name'),
      namespace: typeof o.namespace === 'string' ? o.namespace : 'default',
      node,
      ips,
      labels,
    };
  });
  let tls: Inventory['tls'];
  if (d.tls !== undefined) {
    const t = mapping(d.tls, path, 'tls');
    onlyKeys(t, ['ca', 'cert', 'key'], path, 'tls');
    const abs = (k: string): string => {
      const v = str(t[k], path, `tls.${k}`);
      return isAbsolute(v) ? v : resolve(dirname(path), v);
    };
    tls = { ca: abs('ca'), cert: abs('cert'), key: abs('key') };
  }
  return { path, nodes, pods, tls };
}

export function loadInventory(path: string): Inventory {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CnspectError('CNSPECT_FILE', `cannot read inventory ${path}: ${(err as Error).message}`, {
      cause: err,
      hint: 'pass the file `cnspect lab up` printed, or write one (README, "Inventory")',
    });
  }
  return parseInventory(text, path);
}
