// Targets from a Kubernetes cluster: the kubeconfig (--kubeconfig, KUBECONFIG with several
// paths, ~/.kube/config; --context), nodes with OS and InternalIP, pods with node, every IP and
// labels, and the client certificate from its Secret — so Kubernetes RBAC decides who may capture.
// Loaded only when a command needs a cluster, after flags are parsed.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { isIPv6 } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { CnspectError } from '../errors.js';
import type { TlsMaterial } from '../tls/material.js';
import type { Inventory, InventoryNode, InventoryPod } from './inventory.js';

export { DEFAULT_AGENT_NAMESPACE } from '../contract/agent-api.js';
export const CLIENT_SECRET = 'cnspect-client';
export { DEFAULT_AGENT_PORT } from '../contract/agent-api.js';
import { DEFAULT_AGENT_NAMESPACE, DEFAULT_AGENT_PORT } from '../contract/agent-api.js';

export interface KubeOptions {
  kubeconfig?: string;
  context?: string;
  /** Namespace the agents and their Secrets live in. */
  agentNamespace?: string;
  agentPort?: number;
  /** wcnspect servers take no client certificate: do not read cnspect's Secret. */
  skipClientSecret?: boolean;
}

/** Whether any kubeconfig is there to use (flag, KUBECONFIG or ~/.kube/config). */
export function kubeconfigAvailable(o: KubeOptions, env = process.env): boolean {
  if (o.kubeconfig) return true;
  if (env.KUBECONFIG) return env.KUBECONFIG.split(delimiter).some((p) => p && existsSync(p));
  return existsSync(join(homedir(), '.kube', 'config'));
}

export function loadKubeConfig(o: KubeOptions, env = process.env): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    if (o.kubeconfig) {
      if (!existsSync(o.kubeconfig))
        throw new CnspectError('CNSPECT_KUBECONFIG', `kubeconfig ${o.kubeconfig} does not exist`, {
          hint: 'pass the path of a kubeconfig file to --kubeconfig',
        });
      kc.loadFromFile(o.kubeconfig);
    } else {
      const paths = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
      const missing = paths.filter((p) => !existsSync(p));
      if (paths.length && missing.length === paths.length)
        throw new CnspectError('CNSPECT_KUBECONFIG', `none of the KUBECONFIG files exists: ${missing.join(', ')}`);
      // Several paths are merged in order, the first one setting the current context (kubectl's rule).
      const files = paths.length ? paths.filter((p) => existsSync(p)) : [join(homedir(), '.kube', 'config')];
      if (!existsSync(files[0]!))
        throw new CnspectError(
          'CNSPECT_KUBECONFIG',
          'no kubeconfig: neither --kubeconfig, KUBECONFIG nor ~/.kube/config',
          { hint: "point --kubeconfig at your cluster's kubeconfig, or use --inventory" },
        );
      kc.loadFromFile(files[0]!);
      for (const f of files.slice(1)) {
        const more = new k8s.KubeConfig();
        more.loadFromFile(f);
        // kubectl's merge: an entry already defined by an earlier file wins.
        for (const c of more.clusters) if (!kc.clusters.some((x) => x.name === c.name)) kc.addCluster(c);
        for (const u of more.users) if (!kc.users.some((x) => x.name === u.name)) kc.addUser(u);
        for (const c of more.contexts) if (!kc.contexts.some((x) => x.name === c.name)) kc.addContext(c);
      }
    }
  } catch (err) {
    if (err instanceof CnspectError) throw err;
    throw new CnspectError('CNSPECT_KUBECONFIG', `cannot read the kubeconfig: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (o.context) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(o.context))
      throw new CnspectError(
        'CNSPECT_KUBECONFIG',
        `no context ${JSON.stringify(o.context)} in the kubeconfig; it has: ${names.join(', ') || 'none'}`,
        { context: { flag: '--context', value: o.context } },
      );
    kc.setCurrentContext(o.context);
  }
  if (!kc.getCurrentContext() || !kc.getCurrentCluster())
    throw new CnspectError('CNSPECT_KUBECONFIG', 'the kubeconfig has no current context', {
      hint: 'pass --context NAME',
    });
  return kc;
}

/** Turns a failed API call into a coded error that says what to do. */
export function apiError(err: unknown, what: string): CnspectError {
  const code = (err as { code?: number }).code;
  if (code === 401)
    return new CnspectError('CNSPECT_KUBE_API', `the API server refused our credentials while trying to ${what}`, {
      hint: 'refresh your kubeconfig credentials',
      cause: err,
    });
  if (code === 403)
    return new CnspectError('CNSPECT_FORBIDDEN', `forbidden: your Kubernetes user may not ${what}`, {
      hint: 'ask for the RBAC permission (kubectl auth can-i …)',
      cause: err,
    });
  if (code === 404)
    return new CnspectError('CNSPECT_KUBE_API', `not found while trying to ${what}`, {
      hint: 'is cnspect deployed? (cnspect deploy)',
      cause: err,
    });
  return new CnspectError(
    'CNSPECT_KUBE_API',
    `the Kubernetes API failed while trying to ${what}: ${(err as Error).message}`,
    { cause: err },
  );
}

function nodeAddress(n: k8s.V1Node, port: number): string | undefined {
  const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  return ip ? (isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`) : undefined;
}

export function nodesFrom(list: k8s.V1NodeList, port: number): InventoryNode[] {
  return list.items.flatMap((n) => {
    const address = nodeAddress(n, port);
    const os = n.metadata?.labels?.['kubernetes.io/os'] ?? n.status?.nodeInfo?.operatingSystem;
    if (!n.metadata?.name || !address) return [];
    return [{ name: n.metadata.name, address, os: os === 'windows' ? ('windows' as const) : ('linux' as const) }];
  });
}

export function podsFrom(list: k8s.V1PodList): InventoryPod[] {
  return list.items.flatMap((p) => {
    const ips = (p.status?.podIPs ?? []).map((x) => x.ip).filter((ip): ip is string => !!ip);
    if (ips.length === 0 && p.status?.podIP) ips.push(p.status.podIP);
    // Host-network pods share the node's addresses: as capture targets they would mean the node.
    if (!p.metadata?.name || !p.spec?.nodeName || ips.length === 0 || p.spec.hostNetwork) return [];
    return [
      {
        name: p.metadata.name,
        namespace: p.metadata.namespace ?? 'default',
        node: p.spec.nodeName,
        ips,
        labels: { ...(p.metadata.labels ?? {}) },
      },
    ];
  });
}

/** Nodes, pods and the client's TLS material from the cluster, shaped like an inventory. */
export async function inventoryFromCluster(
  o: KubeOptions,
): Promise<Inventory & { tlsMaterial?: TlsMaterial; kubeConfig: k8s.KubeConfig }> {
  const kc = loadKubeConfig(o);
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const port = o.agentPort ?? DEFAULT_AGENT_PORT;
  const ns = o.agentNamespace ?? DEFAULT_AGENT_NAMESPACE;
  const [nodes, pods, secret] = await Promise.all([
    api.listNode({}).catch((err: unknown) => {
      throw apiError(err, 'list nodes');
    }),
    api.listPodForAllNamespaces({}).catch((err: unknown) => {
      throw apiError(err, 'list pods');
    }),
    o.skipClientSecret
      ? Promise.resolve(undefined)
      : api.readNamespacedSecret({ name: CLIENT_SECRET, namespace: ns }).catch((err: unknown) => {
          throw apiError(
            err,
            `read Secret ${ns}/${CLIENT_SECRET} (the client certificate: who may read it may capture)`,
          );
        }),
  ]);
  const field = (k: string): Buffer => {
    const v = secret?.data?.[k];
    if (!v)
      throw new CnspectError('CNSPECT_TLS', `Secret ${ns}/${CLIENT_SECRET} has no ${k}`, {
        hint: 're-run `cnspect deploy`',
      });
    return Buffer.from(v, 'base64');
  };
  return {
    path: `kubeconfig context ${kc.getCurrentContext()}`,
    nodes: nodesFrom(nodes, port),
    pods: podsFrom(pods),
    ...(secret ? { tlsMaterial: { ca: field('ca.crt'), cert: field('tls.crt'), key: field('tls.key') } } : {}),
    kubeConfig: kc,
  };
}
