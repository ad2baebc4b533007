// `--transport tunnel`: reach a node's agent through the API server's port-forward to the agent
// pod on that node (works from a laptop; no node port exposed). A local TCP listener on
// 127.0.0.1 turns each gRPC connection into one port-forward WebSocket; mTLS runs inside it.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { CnspectError } from '../errors.js';
import { apiError } from './kube.js';

export const AGENT_POD_SELECTOR = 'app.kubernetes.io/name=cnspect-agent';

export interface Tunnel {
  /** host:port to dial instead of the node. */
  address: string;
  close(): Promise<void>;
}

export async function agentPodOn(kc: k8s.KubeConfig, namespace: string, node: string): Promise<string> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const pods = await core
    .listNamespacedPod({ namespace, labelSelector: AGENT_POD_SELECTOR, fieldSelector: `spec.nodeName=${node}` })
    .catch((err: unknown) => {
      throw apiError(err, `list the agent pods in ${namespace}`);
    });
  const pod = pods.items.find((p) => p.spec?.nodeName === node && p.status?.phase === 'Running');
  if (!pod?.metadata?.name) {
    throw new CnspectError(
      'CNSPECT_AGENT_UNREACHABLE',
      `no running cnspect agent pod on node ${node} (namespace ${namespace})`,
      { context: { node }, hint: "run `cnspect deploy`, or check the DaemonSet's pods" },
    );
  }
  return pod.metadata.name;
}

function forward(pf: k8s.PortForward, namespace: string, pod: string, port: number, sock: Socket): Promise<unknown> {
  const errors = new PassThrough();
  errors.on('data', (d: Buffer) => sock.destroy(new Error(`port-forward: ${d.toString().trim()}`)));
  return pf.portForward(namespace, pod, [port], sock, errors, sock);
}

export async function openTunnel(kc: k8s.KubeConfig, namespace: string, node: string, port: number): Promise<Tunnel> {
  const pod = await agentPodOn(kc, namespace, node);
  const pf = new k8s.PortForward(kc);
  // One probe first: a forbidden or failing port-forward is reported now, by name, not as a
  // vague connection reset later.
  try {
    const probe = await pf.portForward(namespace, pod, [port], new PassThrough(), null, new PassThrough());
    (typeof probe === 'function' ? probe() : probe)?.close();
  } catch (err) {
    const status = (err as { statusCode?: number; code?: number }).statusCode ?? (err as { code?: number }).code;
    if (status === 403 || /403/.test(String((err as Error).message))) {
      throw new CnspectError(
        'CNSPECT_FORBIDDEN',
        `forbidden: your Kubernetes user may not port-forward to ${namespace}/${pod}`,
        { hint: 'bind the cnspect-user Role (pods/portforward), or use --transport direct', context: { node } },
      );
    }
    throw new CnspectError(
      'CNSPECT_AGENT_UNREACHABLE',
      `port-forward to ${namespace}/${pod} on ${node} failed: ${(err as Error).message}`,
      { context: { node }, cause: err },
    );
  }
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    forward(pf, namespace, pod, port, sock).catch((err: unknown) => sock.destroy(err as Error));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
