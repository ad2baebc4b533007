// Everything `cnspect deploy` creates, as plain Kubernetes objects (pure): a privileged-PSA
// namespace, a token-less agent ServiceAccount, user roles to bind, the mTLS Secrets and the agent
// DaemonSets (Linux; Windows HostProcess with --windows). Every object carries the
// managed-by label that `cnspect cleanup` deletes by.
import type { CertificateSet } from '../tls/certs.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'cnspect';
export const AGENT_LABELS = { 'app.kubernetes.io/name': 'cnspect-agent', [MANAGED_BY_LABEL]: MANAGED_BY };
export const DEFAULT_IMAGE = 'ghcr.io/cnspect/cnspect:0.1.0';
export const DEFAULT_WINDOWS_IMAGE = 'ghcr.io/cnspect/cnspect-windows:0.1.0';
export const TLS_MOUNT = '/etc/cnspect/tls';

export interface DeployOptions {
  namespace: string;
  image: string;
  windowsImage: string;
  port: number;
  windows: boolean;
  certs: CertificateSet;
}

export interface KubeManifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function tlsSecret(name: string, namespace: string, cert: string, key: string, ca: string): KubeManifest {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(cert), 'tls.key': b64(key), 'ca.crt': b64(ca) },
  };
}

/**
 * The agents' Secret: the CA and one certificate and key per node (NODE.crt, NODE.key), each
 * naming its node only; every agent loads its own by --node-name (docs/security.md: who can read what).
 */
function agentSecret(namespace: string, certs: CertificateSet): KubeManifest {
  const data: Record<string, string> = { 'ca.crt': b64(certs.caCert) };
  for (const a of certs.agents) {
    data[`${a.node}.crt`] = b64(a.cert);
    data[`${a.node}.key`] = b64(a.key);
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: AGENT_SECRET, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
    type: 'Opaque',
    data,
  };
}

export const AGENT_SECRET = 'cnspect-agent-tls';

function agentArgs(port: number, tlsDir: string): string[] {
  return ['agent', '--listen', `0.0.0.0:${port}`, '--tls-dir', tlsDir, '--node-name', '$(NODE_NAME)'];
}

const nodeNameEnv = [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }];

export function linuxDaemonSet(o: DeployOptions): KubeManifest {
  const hostPath = (name: string, path: string, type: string): Record<string, unknown> => ({
    name,
    hostPath: { path, type },
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'cnspect-agent', namespace: o.namespace, labels: { ...AGENT_LABELS } },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': 'cnspect-agent' } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%' } },
      template: {
        metadata: { labels: { ...AGENT_LABELS, 'kubernetes.io/os': 'linux' } },
        spec: {
          serviceAccountName: 'cnspect-agent',
          automountServiceAccountToken: false,
          hostNetwork: true, // listens on the node's own address; sees the node's datapath
          hostPID: true, // pods' network namespaces under /proc/PID/ns/net
          dnsPolicy: 'ClusterFirstWithHostNet',
          priorityClassName: 'system-node-critical',
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          tolerations: [{ operator: 'Exists' }], // every node, tainted or not: that is where the problems are
          containers: [
            {
              name: 'agent',
              image: o.image,
              imagePullPolicy: 'IfNotPresent',
              args: agentArgs(o.port, TLS_MOUNT),
              env: nodeNameEnv,
              ports: [{ name: 'grpc', containerPort: o.port, hostPort: o.port, protocol: 'TCP' }],
              securityContext: {
                privileged: false,
                runAsUser: 0,
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: true,
                // NET_ADMIN/NET_RAW: capture and interface state; SYS_ADMIN: enter namespaces;
                // SYS_PTRACE: read other processes' namespaces; BPF/PERFMON: drop tracing.
                capabilities: {
                  drop: ['ALL'],
                  add: [
                    'NET_ADMIN',
                    'NET_RAW',
                    'SYS_ADMIN',
                    'SYS_PTRACE',
                    'BPF',
                    'PERFMON',
                    'SYS_RESOURCE',
                    'DAC_READ_SEARCH',
                  ],
                },
              },
              readinessProbe: { tcpSocket: { port: o.port }, initialDelaySeconds: 2, periodSeconds: 10 },
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '512Mi' } },
              volumeMounts: [
                { name: 'tls', mountPath: TLS_MOUNT, readOnly: true },
                { name: 'netns', mountPath: '/run/netns', mountPropagation: 'HostToContainer', readOnly: true },
                { name: 'tracefs', mountPath: '/sys/kernel/tracing' },
                { name: 'cri', mountPath: '/run/containerd/containerd.sock', readOnly: true },
                { name: 'run-cnspect', mountPath: '/run/cnspect' },
              ],
            },
          ],
          volumes: [
            { name: 'tls', secret: { secretName: 'cnspect-agent-tls', defaultMode: 0o400 } },
            hostPath('netns', '/run/netns', 'DirectoryOrCreate'),
            hostPath('tracefs', '/sys/kernel/tracing', 'Directory'),
            hostPath('cri', '/run/containerd/containerd.sock', 'Socket'),
            { name: 'run-cnspect', emptyDir: {} },
          ],
        },
      },
    },
  };
}

export function windowsDaemonSet(o: DeployOptions): KubeManifest {
  const tlsDir = '$env:CONTAINER_SANDBOX_MOUNT_POINT/etc/cnspect/tls';
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'cnspect-agent-windows', namespace: o.namespace, labels: { ...AGENT_LABELS } },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': 'cnspect-agent', 'kubernetes.io/os': 'windows' } },
      template: {
        metadata: { labels: { ...AGENT_LABELS, 'kubernetes.io/os': 'windows' } },
        spec: {
          serviceAccountName: 'cnspect-agent',
          automountServiceAccountToken: false,
          hostNetwork: true,
          nodeSelector: { 'kubernetes.io/os': 'windows' },
          tolerations: [{ operator: 'Exists' }],
          // HostProcess: pktmon, vfpctrl and HNS need the host; SYSTEM is what they run as.
          securityContext: { windowsOptions: { hostProcess: true, runAsUserName: 'NT AUTHORITY\\SYSTEM' } },
          containers: [
            {
              name: 'agent',
              image: o.windowsImage,
              imagePullPolicy: 'IfNotPresent',
              command: ['cnspect.exe'],
              args: agentArgs(o.port, tlsDir),
              env: nodeNameEnv,
              ports: [{ name: 'grpc', containerPort: o.port, hostPort: o.port, protocol: 'TCP' }],
              readinessProbe: { tcpSocket: { port: o.port }, initialDelaySeconds: 5, periodSeconds: 10 },
              resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
              volumeMounts: [{ name: 'tls', mountPath: '/etc/cnspect/tls', readOnly: true }],
            },
          ],
          volumes: [{ name: 'tls', secret: { secretName: 'cnspect-agent-tls' } }],
        },
      },
    },
  };
}

export function manifests(o: DeployOptions): KubeManifest[] {
  const labels = { [MANAGED_BY_LABEL]: MANAGED_BY };
  const ns = o.namespace;
  const objs: KubeManifest[] = [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: ns,
        labels: {
          ...labels,
          'pod-security.kubernetes.io/enforce': 'privileged',
          'pod-security.kubernetes.io/audit': 'privileged',
          'pod-security.kubernetes.io/warn': 'privileged',
        },
      },
    },
    // The agent never calls the API server: no token, no role.
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'cnspect-agent', namespace: ns, labels },
      automountServiceAccountToken: false,
    },
    agentSecret(ns, o.certs),
    tlsSecret('cnspect-client', ns, o.certs.clientCert, o.certs.clientKey, o.certs.caCert),
    // What a cnspect user needs; bind it to whoever may capture (kubectl create rolebinding …).
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'cnspect-user', namespace: ns, labels },
      rules: [
        { apiGroups: [''], resources: ['secrets'], resourceNames: ['cnspect-client'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
        { apiGroups: [''], resources: ['pods/portforward'], verbs: ['create'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'cnspect-user', labels },
      rules: [{ apiGroups: [''], resources: ['nodes', 'pods'], verbs: ['get', 'list'] }],
    },
    linuxDaemonSet(o),
  ];
  if (o.windows) objs.push(windowsDaemonSet(o));
  return objs;
}
