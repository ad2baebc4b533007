// A small Kubernetes API server double speaking the real HTTP/JSON wire protocol for the calls
// cnspect makes (list nodes, list pods, get a Secret), with bearer-token authentication and a
// switch to make the Secret forbidden. Kept deliberately thin.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KubeObject { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: unknown }

export interface KubeApiDouble {
  url: string;
  token: string;
  nodes: KubeObject[];
  pods: KubeObject[];
  secrets: KubeObject[];
  /** Secrets the token may not read (403). */
  forbiddenSecrets: Set<string>;
  requests: string[];
  /** Writes a kubeconfig with one context pointing here; returns its path. */
  kubeconfig(context?: string, extra?: { badContext?: string }): string;
  close(): Promise<void>;
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}

export async function startKubeApi(): Promise<KubeApiDouble> {
  const token = `t-${Math.random().toString(36).slice(2)}`;
  const dir = mkdtempSync(join(tmpdir(), 'cnspect-kube-'));
  const api: Partial<KubeApiDouble> = { token, nodes: [], pods: [], secrets: [], forbiddenSecrets: new Set(), requests: [] };
  const list = (kind: string, items: KubeObject[]): string => JSON.stringify({ kind: `${kind}List`, apiVersion: 'v1', metadata: { resourceVersion: '1' }, items });
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    api.requests!.push(`${req.method} ${url.pathname}`);
    if (req.headers.authorization !== `Bearer ${token}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
    if (req.method !== 'GET') return status(res, 405, 'MethodNotAllowed', `${req.method} is not supported by this double`);
    let m: RegExpExecArray | null;
    if (url.pathname === '/api/v1/nodes') { res.writeHead(200, { 'content-type': 'application/json' }); return res.end(list('Node', api.nodes!)); }
    if (url.pathname === '/api/v1/pods') { res.writeHead(200, { 'content-type': 'application/json' }); return res.end(list('Pod', api.pods!)); }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(url.pathname))) {
      const [, ns, name] = m;
      if (api.forbiddenSecrets!.has(`${ns}/${name}`)) return status(res, 403, 'Forbidden', `secrets "${name}" is forbidden: User "test" cannot get resource "secrets" in API group "" in the namespace "${ns}"`);
      const s = api.secrets!.find((x) => x.metadata.name === name && x.metadata.namespace === ns);
      if (!s) return status(res, 404, 'NotFound', `secrets "${name}" not found`);
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(s));
    }
    return status(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api.url = url;
  api.kubeconfig = (context = 'double', extra = {}) => {
    const path = join(dir, `${context}.kubeconfig`);
    const contexts = [`- name: ${context}\n  context: {cluster: double, user: tester}`];
    if (extra.badContext) contexts.push(`- name: ${extra.badContext}\n  context: {cluster: nowhere, user: tester}`);
    writeFileSync(path, `apiVersion: v1\nkind: Config\ncurrent-context: ${context}\nclusters:\n- name: double\n  cluster: {server: "${url}", insecure-skip-tls-verify: true}\n- name: nowhere\n  cluster: {server: "http://127.0.0.1:1", insecure-skip-tls-verify: true}\ncontexts:\n${contexts.join('\n')}\nusers:\n- name: tester\n  user: {token: ${token}}\n`);
    return path;
  };
  api.close = () => new Promise<void>((r) => server.close(() => r()));
  return api as KubeApiDouble;
}

/** Nodes, pods and the client Secret of a lab, as the cluster would show them. */
export function clusterObjectsOf(lab: { plan: { nodes: Array<{ name: string; underlayIp: string }>; pods: Array<{ name: string; namespace: string; node: string; ip: string }> }; dir: string }, read: (p: string) => Buffer): { nodes: KubeObject[]; pods: KubeObject[]; secret: KubeObject } {
  return {
    nodes: lab.plan.nodes.map((n) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: n.name, labels: { 'kubernetes.io/os': 'linux' } },
      status: { addresses: [{ type: 'InternalIP', address: n.underlayIp }, { type: 'Hostname', address: n.name }], nodeInfo: { operatingSystem: 'linux' } } })),
    pods: lab.plan.pods.map((p) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: p.namespace, labels: { app: 'web' } },
      spec: { nodeName: p.node, containers: [{ name: 'c', image: 'x' }] }, status: { podIP: p.ip, podIPs: [{ ip: p.ip }] } })),
    secret: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cnspect-client', namespace: 'cnspect-system' }, type: 'kubernetes.io/tls',
      data: { 'ca.crt': read(join(lab.dir, 'tls/ca.crt')).toString('base64'), 'tls.crt': read(join(lab.dir, 'tls/client.crt')).toString('base64'), 'tls.key': read(join(lab.dir, 'tls/client.key')).toString('base64') } },
  };
}
