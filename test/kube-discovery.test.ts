// Targets from a kubeconfig, against an API server double holding a lab's nodes, pods and
// client Secret: capture and hns reach the lab agents directly; bad kubeconfigs, contexts and
// a forbidden Secret give clear errors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { labDown, labUp, type LabState } from '../src/lab/lab.js';
import { inventoryFromCluster, loadKubeConfig } from '../src/cluster/kube.js';
import { agentPodOn } from '../src/cluster/tunnel.js';
import { runCli } from './helpers/cli.js';
import { inNs } from './helpers/netns.js';
import { waitFor } from './helpers/wait.js';
import { clusterObjectsOf, startKubeApi, type KubeApiDouble } from './helpers/kube-api.js';

describe('Kubernetes discovery (API server double + lab agents)', () => {
  const name = `tk${randomBytes(2).toString('hex')}`;
  let lab: LabState;
  let api: KubeApiDouble;
  let kubeconfig: string;

  before(async () => {
    lab = await labUp({ name, nodes: 2, podsPerNode: 1, network: 'bridge', agentPort: 50051 });
    api = await startKubeApi();
    const objs = clusterObjectsOf(lab, (p) => readFileSync(p));
    for (const n of objs.nodes) api.add('nodes', n);
    for (const p of objs.pods) api.add('pods', p);
    api.add('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'host-net', namespace: 'kube-system' },
      spec: { nodeName: `${name}-node1`, hostNetwork: true },
      status: { podIP: lab.plan.nodes[0]!.underlayIp },
    });
    api.add('secrets', objs.secret);
    // A leftover agent pod that is not Running, listed before the live ones: never to be picked.
    api.add('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `cnspect-agent-stale-${name}-node1`,
        namespace: 'cnspect-system',
        labels: { 'app.kubernetes.io/name': 'cnspect-agent' },
      },
      spec: { nodeName: `${name}-node1`, hostNetwork: true },
      status: { phase: 'Failed', podIP: lab.plan.nodes[0]!.underlayIp },
    });
    api.add('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'cnspect-agent-pending',
        namespace: 'cnspect-system',
        labels: { 'app.kubernetes.io/name': 'cnspect-agent' },
      },
      spec: { nodeName: 'node-without-agent' },
      status: { phase: 'Pending' },
    });
    // The agents' pods, as the DaemonSet would run them (hostNetwork, one per node).
    for (const n of lab.plan.nodes) {
      api.add('pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: `cnspect-agent-${n.name}`,
          namespace: 'cnspect-system',
          labels: { 'app.kubernetes.io/name': 'cnspect-agent' },
        },
        spec: { nodeName: n.name, hostNetwork: true },
        status: { phase: 'Running', podIP: n.underlayIp },
      });
    }
    kubeconfig = api.kubeconfig('lab', { badContext: 'elsewhere' });
  });
  after(async () => {
    await api.close();
    await labDown(name);
  });

  it('discovers nodes with OS and InternalIP, pods with node and IPs, and the client certificate', async () => {
    const inv = await inventoryFromCluster({ kubeconfig, context: 'lab' });
    assert.deepEqual(
      inv.nodes,
      lab.plan.nodes.map((n) => ({ name: n.name, address: `${n.underlayIp}:50051`, os: 'linux' })),
    );
    assert.deepEqual(
      inv.pods.map((p) => [p.namespace, p.name, p.node, p.ips]),
      lab.plan.pods.map((p) => [p.namespace, p.name, p.node, [p.ip]]),
      'host-network pods are not pod targets',
    );
    assert.equal(inv.tlsMaterial!.cert.toString(), readFileSync(join(lab.dir, 'tls/client.crt'), 'utf8'));
    assert.ok(api.requests.includes('GET /api/v1/namespaces/cnspect-system/secrets/cnspect-client'));
  });

  it("capture pods NAMESPACE/NAME through the kubeconfig reaches the pod's node directly", async () => {
    const [a, b] = lab.plan.pods;
    const run = runCli([
      'capture',
      'pods',
      `default/${b!.name}`,
      '--kubeconfig',
      kubeconfig,
      '--context',
      'lab',
      '--transport',
      'direct',
      '-t',
      'ICMP',
      '-o',
      'json',
    ]);
    await waitFor(() => run.err().includes('capturing'), 'the capture to start', 20_000);
    inNs(a!.netns, ['ping', '-c', '3', '-i', '0.01', b!.ip]);
    await waitFor(
      () =>
        run
          .out()
          .split('\n')
          .filter((l) => l.includes('"type":"packet"')).length >= 6,
      '6 packets',
    );
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 0, run.err());
    const packets = run
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r.type === 'packet');
    assert.equal(packets.length, 6);
    assert.ok(packets.every((p) => p.node === b!.node && p.interface === b!.hostVeth));
    assert.ok(packets.some((p) => p.srcPod === `default/${a!.name}` && p.dstPod === `default/${b!.name}`));
  });

  it("tunnels through the API server's port-forward by default, mTLS inside it", async () => {
    const [a, b] = lab.plan.pods;
    const run = runCli(['capture', 'all', '--kubeconfig', kubeconfig, '-t', 'ICMP', '-o', 'json']);
    await waitFor(() => (run.err().match(/capturing/g) ?? []).length === 2, 'both nodes to start', 20_000);
    inNs(a!.netns, ['ping', '-c', '2', '-i', '0.01', b!.ip]);
    await waitFor(
      () =>
        run
          .out()
          .split('\n')
          .filter((l) => l.includes('"type":"packet"')).length >= 24,
      '24 packets',
    );
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 0, run.err());
    assert.ok(
      api.requests.some(
        (r) => r === `UPGRADE /api/v1/namespaces/cnspect-system/pods/cnspect-agent-${name}-node1/portforward`,
      ),
    );
    assert.ok(
      api.requests.some(
        (r) => r === `UPGRADE /api/v1/namespaces/cnspect-system/pods/cnspect-agent-${name}-node2/portforward`,
      ),
    );
    assert.ok(
      !api.requests.some((r) => r.includes('cnspect-agent-stale-')),
      'the Failed agent pod is never port-forwarded to',
    );
    // A node whose only agent pod is Pending has no agent to reach, and the error says so.
    const kc = loadKubeConfig({ kubeconfig, context: 'lab' });
    await assert.rejects(
      agentPodOn(kc, 'cnspect-system', 'node-without-agent'),
      (err: Error & { code?: string }) =>
        err.code === 'CNSPECT_AGENT_UNREACHABLE' &&
        /no running cnspect agent pod on node node-without-agent/.test(err.message),
    );
    assert.equal(await agentPodOn(kc, 'cnspect-system', `${name}-node1`), `cnspect-agent-${name}-node1`);
    // capture nodes and capture pods through the tunnel too.
    for (const args of [
      ['nodes', b!.node],
      ['pods', `default/${b!.name}`],
    ]) {
      const one = runCli([
        'capture',
        ...args,
        '--kubeconfig',
        kubeconfig,
        '--transport',
        'tunnel',
        '-t',
        'ICMP',
        '-o',
        'json',
      ]);
      await waitFor(() => one.err().includes('capturing'), `capture ${args.join(' ')} to start`, 20_000);
      inNs(a!.netns, ['ping', '-c', '1', b!.ip]);
      await waitFor(() => one.out().includes('"type":"packet"'), `a packet for capture ${args.join(' ')}`);
      one.signals.emit('SIGINT');
      assert.equal(await one.exit, 0, one.err());
      assert.ok(
        one
          .out()
          .split('\n')
          .filter((l) => l.includes('"type":"packet"'))
          .every((l) => (JSON.parse(l) as { node: string }).node === b!.node),
      );
    }
    // A user who may not port-forward is told so, for that node, while the other node works.
    api.forbidden.add(`portforward/cnspect-system/cnspect-agent-${name}-node2`);
    try {
      const partial = runCli(['capture', 'all', '--kubeconfig', kubeconfig, '-t', 'ICMP', '-d', '1']);
      assert.equal(await partial.exit, 4);
      assert.match(
        partial.err(),
        new RegExp(
          `${name}-node2: FAILED \\[${name}-node2\\] CNSPECT_FORBIDDEN: forbidden: your Kubernetes user may ` +
            `not port-forward`,
        ),
      );
      assert.match(partial.err(), new RegExp(`${name}-node1: 0 packets, 0 bytes captured \\(duration\\)`));
    } finally {
      api.forbidden.clear();
    }
  });

  it('KUBECONFIG with several paths is merged; hns works through it', async () => {
    const other = api.kubeconfig('other');
    const missing = join(lab.dir, 'missing.kubeconfig');
    const prev = process.env.KUBECONFIG;
    process.env.KUBECONFIG = [missing, kubeconfig, other].join(delimiter);
    try {
      const kc = loadKubeConfig({});
      assert.deepEqual(
        kc
          .getContexts()
          .map((c) => c.name)
          .sort(),
        ['elsewhere', 'lab', 'other'],
      );
      assert.equal(kc.getCurrentContext(), 'lab', 'the first file sets the current context');
      // Through the tunnel, the default with a kubeconfig.
      const run = runCli(['hns', 'endpoints', '-n', `${name}-node1`, '-d']);
      assert.equal(await run.exit, 0, run.err());
      const [dp] = JSON.parse(run.out()) as Array<{ endpoints: Array<{ pod: string }> }>;
      assert.deepEqual(
        dp!.endpoints.map((e) => e.pod),
        [`default/${lab.plan.pods[0]!.name}`],
      );
    } finally {
      if (prev === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = prev;
    }
  });

  it('says what is wrong: missing kubeconfig, unknown context, unreachable cluster, forbidden Secret', async () => {
    const noFile = runCli(['capture', 'all', '--kubeconfig', join(lab.dir, 'nope.yaml'), '-d', '1']);
    assert.equal(await noFile.exit, 2);
    assert.match(noFile.err(), /CNSPECT_KUBECONFIG: kubeconfig .*nope\.yaml does not exist/);
    const badCtx = runCli(['capture', 'all', '--kubeconfig', kubeconfig, '--context', 'prod', '-d', '1']);
    assert.equal(await badCtx.exit, 2);
    assert.match(badCtx.err(), /CNSPECT_KUBECONFIG: no context "prod" in the kubeconfig; it has: lab, elsewhere/);
    const down = runCli(['capture', 'all', '--kubeconfig', kubeconfig, '--context', 'elsewhere', '-d', '1']);
    assert.equal(await down.exit, 4);
    assert.match(down.err(), /CNSPECT_KUBE_API: the Kubernetes API failed while trying to list nodes/);
    api.forbidden.add('secrets/cnspect-system/cnspect-client');
    try {
      const forbidden = runCli(['capture', 'all', '--kubeconfig', kubeconfig, '-d', '1']);
      assert.equal(await forbidden.exit, 4);
      assert.match(
        forbidden.err(),
        /CNSPECT_FORBIDDEN: forbidden: your Kubernetes user may not read Secret cnspect-system\/cnspect-client \(/,
      );
    } finally {
      api.forbidden.clear();
    }
    const badToken = api.kubeconfig('lab');
    writeFileSync(badToken, readFileSync(badToken, 'utf8').replace(api.token, 'wrong'));
    const unauth = runCli(['capture', 'all', '--kubeconfig', badToken, '-d', '1']);
    assert.equal(await unauth.exit, 4);
    assert.match(unauth.err(), /CNSPECT_KUBE_API: the API server refused our credentials/);
  });

  it('-h needs no cluster', async () => {
    const prev = process.env.KUBECONFIG;
    process.env.KUBECONFIG = '/nonexistent/kubeconfig';
    try {
      const run = runCli(['capture', '-h']);
      assert.equal(await run.exit, 0);
      assert.match(run.out(), /--kubeconfig <file>/);
    } finally {
      if (prev === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = prev;
    }
  });
});
