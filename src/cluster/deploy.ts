// `cnspect deploy` / `cnspect cleanup` against the cluster of the kubeconfig: create what
// manifests.ts describes, wait for the agents to roll out (with progress, naming the ready
// nodes), and remove everything carrying cnspect's managed-by label.
import * as k8s from '@kubernetes/client-node';
import { CnspectError } from '../errors.js';
import { apiError } from './kube.js';
import { type KubeManifest, MANAGED_BY, MANAGED_BY_LABEL } from './manifests.js';

export const ROLLOUT_POLL_MS = 1000;

export interface DeployResult {
  created: string[];
  unchanged: string[];
  readyNodes: string[];
  notReady: string[];
}

const id = (o: KubeManifest): string =>
  `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

export async function applyManifests(
  kc: k8s.KubeConfig,
  objs: KubeManifest[],
  progress: (line: string) => void,
  timeoutMs: number,
): Promise<DeployResult> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  const result: DeployResult = { created: [], unchanged: [], readyNodes: [], notReady: [] };
  for (const o of objs) {
    try {
      await api.create(o as k8s.KubernetesObject);
      result.created.push(id(o));
      progress(`created ${id(o)}`);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw apiError(err, `create ${id(o)}`);
      result.unchanged.push(id(o));
      progress(`${id(o)} exists, kept`);
    }
  }
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const daemonSets = objs.filter((o) => o.kind === 'DaemonSet');
  const deadline = Date.now() + timeoutMs;
  for (const ds of daemonSets) {
    let last = '';
    for (;;) {
      const cur = await apps
        .readNamespacedDaemonSet({ name: ds.metadata.name, namespace: ds.metadata.namespace! })
        .catch((err: unknown) => {
          throw apiError(err, `read DaemonSet ${ds.metadata.name}`);
        });
      const want = cur.status?.desiredNumberScheduled ?? 0;
      const ready = cur.status?.numberReady ?? 0;
      const line = `rollout ${ds.metadata.name}: ${ready}/${want} agents ready`;
      if (line !== last) {
        progress(line);
        last = line;
      }
      if (ready >= want && (cur.status?.observedGeneration ?? 0) >= (cur.metadata?.generation ?? 0)) break;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, ROLLOUT_POLL_MS));
    }
  }
  if (daemonSets.length) {
    const ns = daemonSets[0]!.metadata.namespace!;
    const pods = await core
      .listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/name=cnspect-agent' })
      .catch((err: unknown) => {
        throw apiError(err, 'list the agent pods');
      });
    for (const p of pods.items) {
      const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      (ready ? result.readyNodes : result.notReady).push(p.spec?.nodeName ?? p.metadata?.name ?? '?');
    }
  }
  return result;
}

/** Deletes every object cnspect created (by label), namespaced ones first; returns what went. */
export async function cleanup(
  kc: k8s.KubeConfig,
  namespace: string,
  progress: (line: string) => void,
): Promise<string[]> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
  const kinds: Array<[string, string, boolean]> = [
    ['apps/v1', 'DaemonSet', true],
    ['rbac.authorization.k8s.io/v1', 'Role', true],
    ['v1', 'Secret', true],
    ['v1', 'ServiceAccount', true],
    ['rbac.authorization.k8s.io/v1', 'ClusterRole', false],
    ['v1', 'Namespace', false],
  ];
  const removed: string[] = [];
  for (const [apiVersion, kind, namespaced] of kinds) {
    const list = await api
      .list(apiVersion, kind, namespaced ? namespace : undefined, undefined, undefined, undefined, undefined, selector)
      .catch((err: unknown) => {
        if ((err as { code?: number }).code === 404) return { items: [] };
        throw apiError(err, `list ${kind}s`);
      });
    for (const item of list.items) {
      const obj = { apiVersion, kind, metadata: { name: item.metadata!.name!, ...(namespaced ? { namespace } : {}) } };
      await api.delete(obj).catch((err: unknown) => {
        if ((err as { code?: number }).code !== 404) throw apiError(err, `delete ${id(obj)}`);
      });
      removed.push(id(obj));
      progress(`deleted ${id(obj)}`);
    }
  }
  if (removed.length === 0) progress(`nothing to remove: no object labelled ${selector}`);
  return removed;
}

export function assertNamespace(ns: string): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns))
    throw new CnspectError(
      'CNSPECT_BAD_FLAG',
      `invalid value for --namespace: ${JSON.stringify(ns)}; allowed: a Kubernetes namespace name`,
    );
  return ns;
}
