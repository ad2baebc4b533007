// A small Kubernetes API server double speaking the real HTTP/JSON wire protocol for the calls
// cnspect makes: API discovery, list (all namespaces or one, with a label selector), get,
// create (409 on conflict) and delete, with bearer-token authentication and Status objects for
// errors. A created DaemonSet gets one ready pod per matching node, like a healthy rollout.
// Kept deliberately thin: a map of objects, no watches beyond what is needed.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

interface Resource {
  group: string;
  version: string;
  name: string;
  kind: string;
  namespaced: boolean;
}

const RESOURCES: Resource[] = [
  { group: '', version: 'v1', name: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: '', version: 'v1', name: 'nodes', kind: 'Node', namespaced: false },
  { group: '', version: 'v1', name: 'pods', kind: 'Pod', namespaced: true },
  { group: '', version: 'v1', name: 'secrets', kind: 'Secret', namespaced: true },
  { group: '', version: 'v1', name: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
  { group: 'apps', version: 'v1', name: 'daemonsets', kind: 'DaemonSet', namespaced: true },
  { group: 'rbac.authorization.k8s.io', version: 'v1', name: 'roles', kind: 'Role', namespaced: true },
  { group: 'rbac.authorization.k8s.io', version: 'v1', name: 'clusterroles', kind: 'ClusterRole', namespaced: false },
];

export interface KubeApiDouble {
  url: string;
  token: string;
  /** Every object, keyed "resource/namespace/name" ("resource//name" when cluster-scoped). */
  store: Map<string, KubeObject>;
  /** "resource/namespace/name" keys the token may not read (403). */
  forbidden: Set<string>;
  requests: string[];
  add(resource: string, obj: KubeObject): void;
  kubeconfig(context?: string, extra?: { badContext?: string }): string;
  close(): Promise<void>;
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  send(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

function matches(obj: KubeObject, selector: string | null, fields: string | null): boolean {
  const labelsOk =
    !selector ||
    selector.split(',').every((term) => {
      const [k, v] = term.split('=');
      return obj.metadata.labels?.[k!] === v;
    });
  // The one field selector cnspect uses.
  const fieldsOk =
    !fields ||
    fields.split(',').every((term) => {
      const [k, v] = term.split('=');
      return k === 'spec.nodeName' && (obj.spec as { nodeName?: string } | undefined)?.nodeName === v;
    });
  return labelsOk && fieldsOk;
}

export async function startKubeApi(): Promise<KubeApiDouble> {
  const token = `t-${Math.random().toString(36).slice(2)}`;
  const dir = mkdtempSync(join(tmpdir(), 'cnspect-kube-'));
  const store = new Map<string, KubeObject>();
  const api: Partial<KubeApiDouble> = { token, store, forbidden: new Set(), requests: [] };
  let rv = 1;
  const key = (r: string, ns: string | undefined, name: string): string => `${r}/${ns ?? ''}/${name}`;
  const add = (resource: string, obj: KubeObject): void => {
    obj.metadata.resourceVersion = String(rv++);
    obj.metadata.generation ??= 1;
    store.set(key(resource, obj.metadata.namespace, obj.metadata.name), obj);
    if (resource === 'daemonsets') rollOut(obj);
  };
  // A healthy rollout: one ready agent pod per node the DaemonSet's nodeSelector selects.
  const rollOut = (ds: KubeObject): void => {
    const tmpl = (
      ds.spec as {
        template: { metadata: { labels: Record<string, string> }; spec: { nodeSelector?: Record<string, string> } };
      }
    ).template;
    const nodes = [...store.entries()]
      .filter(([k]) => k.startsWith('nodes/'))
      .map(([, n]) => n)
      .filter((n) => Object.entries(tmpl.spec.nodeSelector ?? {}).every(([k, v]) => n.metadata.labels?.[k] === v));
    for (const n of nodes) {
      const name = `${ds.metadata.name}-${n.metadata.name}`;
      store.set(key('pods', ds.metadata.namespace, name), {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: ds.metadata.namespace, labels: { ...tmpl.metadata.labels } },
        spec: { nodeName: n.metadata.name, hostNetwork: true },
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      });
    }
    ds.status = {
      desiredNumberScheduled: nodes.length,
      currentNumberScheduled: nodes.length,
      numberReady: nodes.length,
      numberAvailable: nodes.length,
      observedGeneration: 1,
    };
  };
  api.add = add;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    api.requests!.push(`${req.method} ${url.pathname}`);
    if (req.headers.authorization !== `Bearer ${token}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
    // Discovery: which resources a group/version serves.
    const disc = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(url.pathname);
    if (disc && req.method === 'GET') {
      const group = disc[2] ?? '';
      const version = disc[1] ?? disc[3]!;
      return send(res, 200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: group ? `${group}/${version}` : version,
        resources: RESOURCES.filter((r) => r.group === group && r.version === version).map((r) => ({
          name: r.name,
          singularName: '',
          namespaced: r.namespaced,
          kind: r.kind,
          verbs: ['create', 'delete', 'get', 'list'],
        })),
      });
    }
    const m = /^\/(?:api\/v1|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(
      url.pathname,
    );
    if (!m) return status(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    let [, group = '', , ns, resource, name] = m;
    // /api/v1/namespaces/NAME is the namespace object itself, not a namespaced list.
    if (resource === undefined) return status(res, 404, 'NotFound', url.pathname);
    if (!RESOURCES.some((r) => r.name === resource) && ns && !name) {
      name = resource;
      resource = 'namespaces';
      ns = undefined;
    }
    const r = RESOURCES.find((x) => x.name === resource && x.group === group);
    if (!r) return status(res, 404, 'NotFound', `no resource ${resource} in ${group || 'core'}`);
    const k = key(resource!, r.namespaced ? ns : undefined, name ?? '');
    if (api.forbidden!.has(k))
      return status(
        res,
        403,
        'Forbidden',
        `${resource} "${name}" is forbidden: User "test" cannot ${req.method === 'GET' ? 'get' : 'change'} ` +
          `resource "${resource}" in the namespace "${ns}"`,
      );
    if (req.method === 'GET' && !name) {
      const items = [...store.entries()]
        .filter(([kk]) => kk.startsWith(`${resource}/`) && (!ns || kk.startsWith(`${resource}/${ns}/`)))
        .map(([, o]) => o)
        .filter((o) => matches(o, url.searchParams.get('labelSelector'), url.searchParams.get('fieldSelector')));
      return send(res, 200, {
        kind: `${r.kind}List`,
        apiVersion: group ? `${group}/v1` : 'v1',
        metadata: { resourceVersion: String(rv) },
        items,
      });
    }
    if (req.method === 'GET') {
      const o = store.get(k);
      return o ? send(res, 200, o) : status(res, 404, 'NotFound', `${resource} "${name}" not found`);
    }
    if (req.method === 'DELETE') {
      if (!store.delete(k)) return status(res, 404, 'NotFound', `${resource} "${name}" not found`);
      if (resource === 'daemonsets')
        for (const kk of [...store.keys()]) if (kk.startsWith(`pods/${ns}/${name}-`)) store.delete(kk);
      if (resource === 'namespaces')
        for (const kk of [...store.keys()]) if (kk.split('/')[1] === name) store.delete(kk);
      return send(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
    }
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        const obj = JSON.parse(body) as KubeObject;
        if (r.namespaced) obj.metadata.namespace = ns;
        const kk = key(resource!, r.namespaced ? ns : undefined, obj.metadata.name);
        if (store.has(kk))
          return status(res, 409, 'AlreadyExists', `${resource} "${obj.metadata.name}" already exists`);
        add(resource!, obj);
        send(res, 201, obj);
      });
      return;
    }
    return status(res, 405, 'MethodNotAllowed', `${req.method} is not supported by this double`);
  });
  // Port-forward (channel protocol v4): byte 0 of each frame is the channel — 0 data, 1 errors
  // for the first port; each channel opens with the port number (2 bytes, little-endian). The
  // agent pod is hostNetwork, so its port is reached on its node's InternalIP.
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => (offered.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false),
  });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    api.requests!.push(`UPGRADE ${url.pathname}`);
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
    const reject = (code: number, text: string): void => {
      socket.end(`HTTP/1.1 ${code} ${text}\r\n\r\n`);
    };
    if (req.headers.authorization !== `Bearer ${token}`) return reject(401, 'Unauthorized');
    if (!m) return reject(404, 'Not Found');
    if (api.forbidden!.has(`portforward/${m[1]}/${m[2]}`)) return reject(403, 'Forbidden');
    const pod = store.get(key('pods', m[1], m[2]!));
    const nodeName = (pod?.spec as { nodeName?: string } | undefined)?.nodeName;
    const node = nodeName ? store.get(key('nodes', undefined, nodeName)) : undefined;
    const ip = (node?.status as { addresses?: Array<{ type: string; address: string }> } | undefined)?.addresses?.find(
      (a) => a.type === 'InternalIP',
    )?.address;
    const port = Number(url.searchParams.get('ports'));
    if (!ip || !port) return reject(404, 'Not Found');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const portBytes = Buffer.from([port & 0xff, port >> 8]);
      ws.send(Buffer.concat([Buffer.from([0]), portBytes]));
      ws.send(Buffer.concat([Buffer.from([1]), portBytes]));
      const tcp = connect(port, ip);
      tcp.on('data', (d: Buffer) => ws.send(Buffer.concat([Buffer.from([0]), d])));
      tcp.on('close', () => ws.close());
      tcp.on('error', (e) => {
        ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(e.message)]));
        ws.close();
      });
      ws.on('message', (data: Buffer) => {
        if (data[0] === 0 && data.length > 1) tcp.write(data.subarray(1));
      });
      ws.on('close', () => tcp.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api.url = url;
  api.kubeconfig = (context = 'double', extra = {}) => {
    const path = join(dir, `${context}.kubeconfig`);
    const contexts = [`- name: ${context}\n  context: {cluster: double, user: tester}`];
    if (extra.badContext) contexts.push(`- name: ${extra.badContext}\n  context: {cluster: nowhere, user: tester}`);
    writeFileSync(
      path,
      `apiVersion: v1\nkind: Config\ncurrent-context: ${context}\nclusters:\n- name: double\n  cluster: ` +
        `{server: "${url}", insecure-skip-tls-verify: true}\n- name: nowhere\n  cluster: {server: ` +
        `"http://127.0.0.1:1", insecure-skip-tls-verify: ` +
        `true}\ncontexts:\n${contexts.join('\n')}\nusers:\n- name: tester\n  user: {token: ${token}}\n`,
    );
    return path;
  };
  api.close = () =>
    new Promise<void>((r) => {
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      server.close(() => r());
    });
  return api as KubeApiDouble;
}

/** Nodes, pods and the client Secret of a lab, as the cluster would show them. */
export function clusterObjectsOf(
  lab: {
    plan: {
      nodes: Array<{ name: string; underlayIp: string }>;
      pods: Array<{ name: string; namespace: string; node: string; ip: string }>;
    };
    dir: string;
  },
  read: (p: string) => Buffer,
): { nodes: KubeObject[]; pods: KubeObject[]; secret: KubeObject } {
  return {
    nodes: lab.plan.nodes.map((n) => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: n.name, labels: { 'kubernetes.io/os': 'linux' } },
      status: {
        addresses: [
          { type: 'InternalIP', address: n.underlayIp },
          { type: 'Hostname', address: n.name },
        ],
        nodeInfo: { operatingSystem: 'linux' },
      },
    })),
    pods: lab.plan.pods.map((p) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: p.namespace, labels: { app: 'web' } },
      spec: { nodeName: p.node, containers: [{ name: 'c', image: 'x' }] },
      status: { podIP: p.ip, podIPs: [{ ip: p.ip }] },
    })),
    secret: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'cnspect-client', namespace: 'cnspect-system' },
      type: 'kubernetes.io/tls',
      data: {
        'ca.crt': read(join(lab.dir, 'tls/ca.crt')).toString('base64'),
        'tls.crt': read(join(lab.dir, 'tls/client.crt')).toString('base64'),
        'tls.key': read(join(lab.dir, 'tls/client.key')).toString('base64'),
      },
    },
  };
}
