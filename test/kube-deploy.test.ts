// `cnspect deploy` / `cleanup`: manifests checked against the Kubernetes OpenAPI schemas
// (kubernetes-models), and against the API server double: exactly the expected objects created,
// rollout reported per node, and everything removed again.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Secret } from 'kubernetes-models/v1/Secret';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { X509Certificate } from 'node:crypto';
import { runCli } from './helpers/cli.js';
import { startKubeApi, type KubeApiDouble } from './helpers/kube-api.js';

type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
};
const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Secret': Secret,
  'apps/v1/DaemonSet': DaemonSet,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
};

async function dryRun(args: string[]): Promise<Doc[]> {
  const run = runCli(['deploy', '--dry-run', '-o', 'yaml', '--nodes', 'lin-1,win-1', ...args]);
  assert.equal(await run.exit, 0, run.err());
  return parseAllDocuments(run.out()).map((d) => d.toJS() as Doc);
}

describe('deploy manifests', () => {
  it('validate against the Kubernetes OpenAPI schemas, Linux and Windows', async () => {
    const docs = await dryRun([
      '--windows',
      '--namespace',
      'netdebug',
      '--image',
      'registry.example/cnspect:1',
      '--port',
      '50777',
    ]);
    assert.deepEqual(
      docs.map((d) => `${d.kind}/${d.metadata.name}`),
      [
        'Namespace/netdebug',
        'ServiceAccount/cnspect-agent',
        'Secret/cnspect-agent-tls',
        'Secret/cnspect-client',
        'Role/cnspect-user',
        'ClusterRole/cnspect-user',
        'DaemonSet/cnspect-agent',
        'DaemonSet/cnspect-agent-windows',
      ],
    );
    for (const d of docs) {
      const Model = MODELS[`${d.apiVersion}/${d.kind}`];
      assert.ok(Model, `${d.apiVersion}/${d.kind} has a schema`);
      assert.doesNotThrow(() => new Model(d as never).validate(), `${d.kind}/${d.metadata.name} is schema-valid`);
      assert.equal(d.metadata.labels?.['app.kubernetes.io/managed-by'], 'cnspect');
    }
    // A wrong field is caught by the schema (the check can fail).
    const broken = structuredClone(docs.find((d) => d.kind === 'DaemonSet')!) as unknown as {
      spec: { template: { spec: { containers: Array<{ ports: Array<{ containerPort: unknown }> }> } } };
    };
    broken.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'fifty';
    assert.throws(() => new DaemonSet(broken as never).validate(), /containerPort/);
  });

  it('ask for what the agent needs and no more', async () => {
    const docs = await dryRun(['--windows']);
    const ns = docs.find((d) => d.kind === 'Namespace')!;
    assert.equal(ns.metadata.labels!['pod-security.kubernetes.io/enforce'], 'privileged');
    const linux = docs.find((d) => d.metadata.name === 'cnspect-agent' && d.kind === 'DaemonSet') as unknown as {
      spec: {
        template: {
          spec: Record<string, unknown> & {
            containers: Array<Record<string, unknown>>;
            volumes: Array<{ name: string; hostPath?: { path: string } }>;
          };
        };
      };
    };
    const pod = linux.spec.template.spec;
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.hostPID, true);
    assert.equal(pod.automountServiceAccountToken, false);
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
    const c = pod.containers[0]! as {
      securityContext: { privileged: boolean; capabilities: { add: string[]; drop: string[] } };
      volumeMounts: Array<{ name: string; mountPropagation?: string }>;
      readinessProbe: unknown;
      resources: { limits: unknown };
      args: string[];
    };
    assert.equal(c.securityContext.privileged, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.ok(
      ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN', 'BPF'].every((cap) => c.securityContext.capabilities.add.includes(cap)),
    );
    assert.equal(c.volumeMounts.find((v) => v.name === 'netns')!.mountPropagation, 'HostToContainer');
    assert.deepEqual(
      pod.volumes.filter((v) => v.hostPath).map((v) => v.hostPath!.path),
      ['/run/netns', '/sys/kernel/tracing', '/run/containerd/containerd.sock'],
    );
    assert.ok(c.readinessProbe && c.resources.limits);
    assert.deepEqual(c.args.slice(0, 3), ['agent', '--listen', '0.0.0.0:50051']);
    const win = docs.find((d) => d.metadata.name === 'cnspect-agent-windows') as unknown as {
      spec: {
        template: {
          spec: {
            securityContext: { windowsOptions: { hostProcess: boolean; runAsUserName: string } };
            nodeSelector: Record<string, string>;
          };
        };
      };
    };
    assert.deepEqual(win.spec.template.spec.securityContext.windowsOptions, {
      hostProcess: true,
      runAsUserName: 'NT AUTHORITY\\SYSTEM',
    });
    assert.deepEqual(win.spec.template.spec.nodeSelector, { 'kubernetes.io/os': 'windows' });
    const role = docs.find((d) => d.kind === 'Role') as unknown as {
      rules: Array<{ resources: string[]; resourceNames?: string[]; verbs: string[] }>;
    };
    assert.deepEqual(
      role.rules.find((r) => r.resources.includes('secrets')),
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['cnspect-client'], verbs: ['get'] },
    );
    // One agent certificate per node, issued by the CA in the same Secret, naming that node only.
    const secret = docs.find((d) => d.metadata.name === 'cnspect-agent-tls') as unknown as {
      data: Record<string, string>;
    };
    assert.deepEqual(Object.keys(secret.data).sort(), ['ca.crt', 'lin-1.crt', 'lin-1.key', 'win-1.crt', 'win-1.key']);
    const ca = new X509Certificate(Buffer.from(secret.data['ca.crt']!, 'base64'));
    for (const node of ['lin-1', 'win-1']) {
      const cert = new X509Certificate(Buffer.from(secret.data[`${node}.crt`]!, 'base64'));
      assert.ok(cert.verify(ca.publicKey));
      assert.equal(cert.subjectAltName, `DNS:${node}`, 'no name shared between nodes');
    }
    assert.deepEqual(c.args.slice(3), ['--tls-dir', '/etc/cnspect/tls', '--node-name', '$(NODE_NAME)']);
    const noNodes = runCli(['deploy', '--dry-run', '--kubeconfig', '/nonexistent/kubeconfig']);
    assert.equal(await noNodes.exit, 2);
  });
});

describe('deploy and cleanup against the API server double', () => {
  let api: KubeApiDouble;
  let kubeconfig: string;
  before(async () => {
    api = await startKubeApi();
    for (const [name, os] of [
      ['lin-1', 'linux'],
      ['lin-2', 'linux'],
      ['win-1', 'windows'],
    ] as const) {
      api.add('nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name, labels: { 'kubernetes.io/os': os } },
        status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] },
      });
    }
    kubeconfig = api.kubeconfig();
  });
  after(async () => {
    await api.close();
  });

  it('creates exactly the expected objects, reports the rollout per node, then cleanup removes them all', async () => {
    const before = new Set(api.store.keys());
    const run = runCli(['deploy', '--kubeconfig', kubeconfig, '--windows', '--timeout', '5']);
    assert.equal(await run.exit, 0, run.err());
    const created = [...api.store.keys()].filter((k) => !before.has(k) && !k.startsWith('pods/')).sort();
    assert.deepEqual(created, [
      'clusterroles//cnspect-user',
      'daemonsets/cnspect-system/cnspect-agent',
      'daemonsets/cnspect-system/cnspect-agent-windows',
      'namespaces//cnspect-system',
      'roles/cnspect-system/cnspect-user',
      'secrets/cnspect-system/cnspect-agent-tls',
      'secrets/cnspect-system/cnspect-client',
      'serviceaccounts/cnspect-system/cnspect-agent',
    ]);
    assert.match(run.err(), /deploy: rollout cnspect-agent: 2\/2 agents ready/);
    assert.match(run.err(), /deploy: rollout cnspect-agent-windows: 1\/1 agents ready/);
    assert.match(run.err(), /agents ready on 3 node\(s\): (lin-1|lin-2|win-1)(, (lin-1|lin-2|win-1)){2}/);
    assert.match(run.out(), /^created Namespace\/cnspect-system$/m);
    // Deploying again keeps what is there.
    const again = runCli(['deploy', '--kubeconfig', kubeconfig, '--timeout', '5']);
    assert.equal(await again.exit, 0, again.err());
    assert.match(again.out(), /unchanged Secret\/cnspect-system\/cnspect-client/);
    // Unrelated objects survive cleanup.
    api.add('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'someone-else', namespace: 'default' } });
    const clean = runCli(['cleanup', '--kubeconfig', kubeconfig]);
    assert.equal(await clean.exit, 0, clean.err());
    assert.deepEqual(clean.out().trim().split('\n').sort(), [
      'deleted ClusterRole/cnspect-user',
      'deleted DaemonSet/cnspect-system/cnspect-agent',
      'deleted DaemonSet/cnspect-system/cnspect-agent-windows',
      'deleted Namespace/cnspect-system',
      'deleted Role/cnspect-system/cnspect-user',
      'deleted Secret/cnspect-system/cnspect-agent-tls',
      'deleted Secret/cnspect-system/cnspect-client',
      'deleted ServiceAccount/cnspect-system/cnspect-agent',
    ]);
    assert.deepEqual(
      [...api.store.keys()].filter((k) => !before.has(k)),
      ['secrets/default/someone-else'],
    );
  });

  it('refuses a bad namespace and a missing kubeconfig clearly', async () => {
    const bad = runCli(['deploy', '--dry-run', '--namespace', 'Not_Valid']);
    assert.equal(await bad.exit, 2);
    assert.match(bad.err(), /--namespace: "Not_Valid"; allowed: a Kubernetes namespace name/);
    const none = runCli(['cleanup', '--kubeconfig', '/nonexistent/kubeconfig']);
    assert.equal(await none.exit, 2);
    assert.match(none.err(), /CNSPECT_KUBECONFIG: kubeconfig \/nonexistent\/kubeconfig does not exist/);
  });
});
