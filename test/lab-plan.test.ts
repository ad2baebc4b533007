// The lab's topology as data, checked without touching the OS.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isLabNetns, labSetupCommands, planLab } from '../src/lab/plan.js';
import { parseInventory } from '../src/cluster/inventory.js';
import { inventoryYaml } from '../src/lab/lab.js';
import { jobsFor } from '../src/cluster/targets.js';
import { request } from './helpers/capture.js';

describe('lab plan', () => {
  const plan = planLab({ name: 'labx', nodes: 3, podsPerNode: 2, network: 'overlay', agentPort: 50051 });

  it('names nodes, pods and CNI-like host interfaces within Linux limits', () => {
    assert.deepEqual(
      plan.nodes.map((n) => n.name),
      ['labx-node1', 'labx-node2', 'labx-node3'],
    );
    assert.equal(plan.pods.length, 7);
    assert.deepEqual(
      plan.pods.filter((p) => p.routed).map((p) => [p.name, p.node, p.ip]),
      [['pod-3-routed', 'labx-node3', '10.244.3.200']],
    );
    for (const p of plan.pods) assert.match(p.hostVeth, p.routed ? /^cali[0-9a-f]{8}$/ : /^veth[0-9a-f]{8}$/);
    assert.equal(new Set(plan.pods.map((p) => p.hostVeth)).size, 7);
    assert.ok(plan.hostInterface.length <= 15);
    assert.match(plan.nodes[0]!.agentAddress, /^198\.1[89]\.\d+\.11:50051$/);
  });

  it('wires VXLAN with head-end replication to every other node, and routes pod subnets over it', () => {
    const cmds = labSetupCommands(plan).map((c) => c.join(' '));
    assert.equal(cmds.filter((c) => c.startsWith('bridge -n labx-node1 fdb append')).length, 2);
    assert.ok(cmds.includes('ip -n labx-node1 route add 10.244.2.0/24 via 10.245.0.2 dev vxlan0'));
    const bridge = labSetupCommands(
      planLab({ name: 'labx', nodes: 2, podsPerNode: 1, network: 'bridge', agentPort: 50051 }),
    ).map((c) => c.join(' '));
    assert.ok(
      bridge.some((c) => /^ip -n labx-node1 route add 10\.244\.2\.0\/24 via 198\.1[89]\.\d+\.12 dev eth0$/.test(c)),
    );
    assert.ok(!bridge.some((c) => c.includes('vxlan')));
  });

  it('knows its namespaces by name alone (for teardown after a crash)', () => {
    assert.ok(isLabNetns('labx', 'labx-node1'));
    assert.ok(isLabNetns('labx', 'labx-pod-1-2'));
    assert.ok(isLabNetns('labx', 'labx-sw'));
    assert.ok(!isLabNetns('labx', 'labxy-node1'));
    assert.ok(!isLabNetns('labx', 'other'));
  });

  it('refuses bad options with the allowed range', () => {
    assert.throws(
      () => planLab({ name: 'Bad!', nodes: 1, podsPerNode: 1, network: 'bridge', agentPort: 1 }),
      /--name: "Bad!"/,
    );
    assert.throws(
      () => planLab({ name: 'ok', nodes: 17, podsPerNode: 1, network: 'bridge', agentPort: 1 }),
      /--nodes: "17"; allowed: 1 to 16/,
    );
    assert.throws(
      () => planLab({ name: 'ok', nodes: 1, podsPerNode: 1, network: 'mesh' as 'bridge', agentPort: 1 }),
      /--network: "mesh"; allowed: bridge or overlay/,
    );
  });
});

describe('inventory and targets', () => {
  const plan = planLab({ name: 'labx', nodes: 2, podsPerNode: 2, network: 'bridge', agentPort: 50051 });
  const inv = parseInventory(inventoryYaml(plan), '/run/cnspect/lab/labx/inventory.yaml');

  it('reads what the lab writes, with TLS paths resolved beside the file', () => {
    assert.equal(inv.nodes.length, 2);
    assert.equal(inv.pods.length, 5);
    assert.deepEqual(inv.tls, {
      ca: '/run/cnspect/lab/labx/tls/ca.crt',
      cert: '/run/cnspect/lab/labx/tls/client.crt',
      key: '/run/cnspect/lab/labx/tls/client.key',
    });
    assert.deepEqual(inv.pods[0], {
      name: 'pod-1-1',
      namespace: 'default',
      node: 'labx-node1',
      ips: ['10.244.1.11'],
      labels: { app: 'web', lab: 'labx' },
    });
  });

  it('groups pods by node (one session per node) and splits them with --in-pod', () => {
    const jobs = jobsFor(inv, 'pods', 'pod-1-1,default/pod-1-2,pod-2-1', 'default', false, request());
    assert.deepEqual(
      jobs.map((j) => [j.label, j.request.pods.map((p) => p.name)]),
      [
        ['labx-node1', ['pod-1-1', 'pod-1-2']],
        ['labx-node2', ['pod-2-1']],
      ],
    );
    const inPod = jobsFor(inv, 'pods', 'pod-1-1,pod-1-2', 'default', true, request());
    assert.deepEqual(
      inPod.map((j) => [j.label, j.request.inPod]),
      [
        ['labx-node1/pod-1-1', true],
        ['labx-node1/pod-1-2', true],
      ],
    );
    assert.deepEqual(
      jobsFor(inv, 'nodes', 'labx-node2', 'default', false, request()).map((j) => j.label),
      ['labx-node2'],
    );
  });

  it('names what is unknown and what exists', () => {
    assert.throws(
      () => jobsFor(inv, 'nodes', 'nope', 'default', false, request()),
      /unknown node "nope"; the inventory has: labx-node1, labx-node2/,
    );
    assert.throws(() => jobsFor(inv, 'pods', 'kube-system/dns', 'default', false, request()), {
      code: 'CNSPECT_POD_NOT_FOUND',
    });
    assert.throws(() => jobsFor(inv, 'all', undefined, 'default', true, request()), /--in-pod needs pods/);
    assert.throws(
      () => parseInventory('nodes:\n  - name: a\n    address: nowhere\n', '/x.yaml'),
      /inventory \/x\.yaml: nodes\[0\]\.address: "nowhere" is not host:port/,
    );
    assert.throws(() => parseInventory('nodes: []\n', '/x.yaml'), /nodes: must be a non-empty list/);
    assert.throws(
      () =>
        parseInventory(
          'nodes:\n  - {name: a, address: "h:1"}\npods:\n  - {name: p, node: b, ips: [10.0.0.1]}\n',
          '/x.yaml',
        ),
      /pods\[0\]\.node: "b" is not one of the nodes \(a\)/,
    );
  });
});
