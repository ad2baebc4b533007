// Across nodes on a real lab (2 nodes, 5 pods): fan-out capture with exact counts per node and
// interface, pods filters, --in-pod, a merged pcapng read by tshark, a failing node, and a
// teardown that leaves nothing behind.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labUp, labStatus, type LabState } from '../src/lab/lab.js';
import { fileURLToPath } from 'node:url';
import { runCli } from './helpers/cli.js';
import { inNs, sh, waitNoTcpdump } from './helpers/netns.js';
import { waitFor } from './helpers/wait.js';

type Rec = Record<string, unknown>;
const TRAFFIC = fileURLToPath(new URL('../../test/fixtures/traffic.mjs', import.meta.url));
const jsonLines = (text: string): Rec[] =>
  text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Rec);
const packets = (text: string): Rec[] => jsonLines(text).filter((r) => r.type === 'packet');

function leftovers(prefix: string): string[] {
  const ns = readdirSync('/run/netns').filter((n) => n.startsWith(`${prefix}-`));
  const ifs = readdirSync('/sys/class/net').filter((n) => n.startsWith(prefix));
  const procs = sh(['ps', '-eo', 'args'])
    .split('\n')
    .filter((l) => l.includes(`/lab/${prefix}/`));
  return [...ns, ...ifs, ...procs, ...(existsSync(`/run/cnspect/lab/${prefix}`) ? ['state dir'] : [])];
}

describe('lab and fan-out (bridge)', () => {
  const name = `tl${randomBytes(2).toString('hex')}`;
  let lab: LabState;
  let inv: string;
  let dir: string;
  const pod = (n: string) => lab.plan.pods.find((p) => p.name === n)!;
  const ping = (from: string, to: string, count: number): void => {
    inNs(pod(from).netns, ['ping', '-c', String(count), '-i', '0.01', '-W', '2', pod(to).ip]);
  };

  before(async () => {
    lab = await labUp({ name, nodes: 2, podsPerNode: 2, network: 'bridge', agentPort: 50051 });
    inv = lab.inventoryPath;
    dir = mkdtempSync(join(tmpdir(), 'cnspect-lab-'));
  });
  after(async () => {
    await labDown(name);
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(leftovers(name), [], 'lab down leaves no namespace, interface, process or file');
  });

  it('is up with an agent per node and an inventory, and `up` again changes nothing', async () => {
    const s = labStatus(name)!;
    assert.equal(s.nodes.length, 2);
    assert.ok(s.nodes.every((n) => n.agentRunning));
    assert.equal(s.namespacesPresent, s.namespacesExpected);
    assert.equal(lab.plan.pods.length, 5, '2 x 2 bridged pods + 1 routed pod');
    const again = await labUp({ name, nodes: 2, podsPerNode: 2, network: 'bridge', agentPort: 50051 });
    assert.deepEqual(
      labStatus(name)!.nodes.map((n) => n.agentPid),
      s.nodes.map((n) => n.agentPid),
    );
    assert.equal(again.inventoryPath, inv);
    assert.match(
      readFileSync(inv, 'utf8'),
      new RegExp(`name: ${name}-node1\\n\\s+address: 198\\.18\\.\\d+\\.11:50051`),
    );
  });

  it('captures cross-node traffic on both nodes with exact counts, in one merged pcapng', async () => {
    const file = join(dir, 'all.pcapng');
    const run = runCli(['capture', 'all', '--inventory', inv, '-t', 'ICMP', '-o', 'json', '-w', file]);
    await waitFor(() => (run.err().match(/capturing/g) ?? []).length === 2, 'both nodes to start', 20_000);
    ping('pod-1-1', 'pod-2-1', 10);
    await waitFor(() => packets(run.out()).length >= 120, '120 packets');
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 0, run.err());
    const all = packets(run.out());
    const node1 = `${name}-node1`;
    const node2 = `${name}-node2`;
    // Each packet crosses the pod's veth, the bridge and the node link on each node.
    for (const node of [node1, node2]) {
      const mine = all.filter((p) => p.node === node);
      assert.equal(mine.length, 60, `${node} sees 20 packets on each of 3 interfaces`);
      const veth = node === node1 ? pod('pod-1-1').hostVeth : pod('pod-2-1').hostVeth;
      for (const iface of [veth, 'cni0', 'eth0'])
        assert.equal(mine.filter((p) => p.interface === iface).length, 20, `${node}/${iface}`);
    }
    assert.ok(all.every((p) => p.srcPod === 'default/pod-1-1' || p.srcPod === 'default/pod-2-1'));
    const rows = sh([
      'tshark',
      '-r',
      file,
      '-T',
      'fields',
      '-E',
      'separator=|',
      '-e',
      'frame.interface_name',
      '-e',
      'frame.comment',
    ])
      .trim()
      .split('\n');
    assert.equal(rows.length, 120);
    // Both nodes' packets merged in capture-time order (the reorder window), in the file and on stdout.
    const times = sh(['tshark', '-r', file, '-T', 'fields', '-e', 'frame.time_epoch']).trim().split('\n').map(Number);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
    const lineTimes = all.map((p) => BigInt(String(p.timestampNs)));
    assert.ok(
      lineTimes.every((t, i) => i === 0 || t >= lineTimes[i - 1]!),
      'JSON lines in timestamp order',
    );
    const perIface = new Map<string, number>();
    for (const r of rows) perIface.set(r.split('|')[0]!, (perIface.get(r.split('|')[0]!) ?? 0) + 1);
    assert.deepEqual(
      Object.fromEntries([...perIface].sort()),
      Object.fromEntries(
        [
          [`${node1}/${pod('pod-1-1').hostVeth}`, 20],
          [`${node1}/cni0`, 20],
          [`${node1}/eth0`, 20],
          [`${node2}/${pod('pod-2-1').hostVeth}`, 20],
          [`${node2}/cni0`, 20],
          [`${node2}/eth0`, 20],
        ].sort(),
      ),
    );
    assert.ok(
      rows.every((r) => /\|default\/pod-(1-1 → default\/pod-2-1|2-1 → default\/pod-1-1)$/.test(r)),
      rows[0],
    );
  });

  it('never records its own stream: the agent leaves its connection out unless --include-self', async () => {
    const agentPort = Number(/:(\d+)$/.exec(lab.plan.nodes[0]!.agentAddress)![1]);
    const own = (text: string): Rec[] =>
      packets(text).filter((p) => p.protocol === 'TCP' && (p.srcPort === agentPort || p.dstPort === agentPort));
    const plain = runCli(['capture', 'nodes', `${name}-node1`, '--inventory', inv, '-o', 'json', '-d', '1.5']);
    assert.equal(await plain.exit, 0, plain.err());
    const started = jsonLines(plain.out()).find((r) => r.type === 'started')!;
    assert.match(
      String(started.selfExcluded),
      new RegExp(`^the agent's own connection \\(TCP 198\\.18\\.\\d+\\.\\d+:\\d+ to port ${agentPort}\\)$`),
    );
    assert.match(plain.err(), /leaving out the agent's own connection .* \(--include-self keeps it\)/);
    assert.deepEqual(own(plain.out()), [], "no packet of the agent's own stream");
    const withSelf = runCli([
      'capture',
      'nodes',
      `${name}-node1`,
      '--inventory',
      inv,
      '-o',
      'json',
      '-d',
      '1.5',
      '--include-self',
    ]);
    assert.equal(await withSelf.exit, 0, withSelf.err());
    assert.ok(own(withSelf.out()).length > 0, 'with --include-self the stream is captured');
  });

  it('--not leaves out what the next flag matches, as tcpdump users expect', async () => {
    const run = runCli([
      'capture',
      'pods',
      'pod-2-1',
      '--inventory',
      inv,
      '-t',
      'UDP',
      '--not',
      '-r',
      '9999',
      '-o',
      'json',
    ]);
    await waitFor(() => run.err().includes('capturing'), 'the capture to start', 20_000);
    inNs(pod('pod-1-1').netns, ['node', TRAFFIC, 'udp-send', pod('pod-2-1').ip, '9999:4', '9998:3']);
    await waitFor(() => packets(run.out()).length >= 3, '3 packets');
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 0, run.err());
    assert.deepEqual(
      packets(run.out()).map((p) => p.dstPort),
      [9998, 9998, 9998],
    );
    assert.match(run.err(), /kernel filter: .*udp and not \(port 9999\)/);
  });

  it('capture pods: two pods on one node give one session that sees only their host veths', async () => {
    const run = runCli(['capture', 'pods', 'pod-1-1,default/pod-1-2', '--inventory', inv, '-t', 'ICMP', '-o', 'json']);
    await waitFor(() => run.err().includes('capturing'), 'the capture to start', 20_000);
    ping('pod-1-2', 'pod-2-1', 5);
    ping('pod-1-1', 'pod-2-2', 5);
    ping('pod-2-1', 'pod-2-2', 5); // not these pods, on the other node: not captured
    // Not these pods either, on the very node whose session runs (its own namespace to a pod on
    // node2, out through node1's eth0): the session must leave it out too.
    inNs(`${name}-node1`, ['ping', '-c', '5', '-i', '0.01', '-W', '2', pod('pod-2-2').ip]);
    await waitFor(() => packets(run.out()).length >= 20, '20 packets');
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 0, run.err());
    const started = jsonLines(run.out()).filter((r) => r.type === 'started');
    assert.equal(started.length, 1);
    assert.equal(started[0]!.node, `${name}-node1`);
    const got = packets(run.out());
    assert.equal(got.length, 20);
    assert.equal(got.filter((p) => p.interface === pod('pod-1-1').hostVeth).length, 10);
    assert.equal(got.filter((p) => p.interface === pod('pod-1-2').hostVeth).length, 10);
  });

  it("--in-pod captures inside the routed pod's namespace", async () => {
    const run = runCli(['capture', 'pods', 'pod-2-routed', '--in-pod', '--inventory', inv, '-t', 'ICMP', '-o', 'json']);
    await waitFor(
      () => run.err().includes('capturing inside pod default/pod-2-routed'),
      'the capture to start',
      20_000,
    );
    ping('pod-1-1', 'pod-2-routed', 5);
    await waitFor(() => packets(run.out()).length >= 10, '10 packets');
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 0, run.err());
    const got = packets(run.out());
    assert.equal(got.length, 10);
    assert.ok(got.every((p) => p.interface === 'eth0' && p.node === `${name}-node2/pod-2-routed`));
    assert.equal(got.filter((p) => p.direction === 'in').length, 5);
  });

  it('reports an unreachable node by name while the others go on, and says so in the exit code', async () => {
    const bad = join(lab.dir, 'with-ghost.yaml'); // beside the lab's inventory: same relative TLS paths
    writeFileSync(
      bad,
      readFileSync(inv, 'utf8').replace(
        'nodes:\n',
        'nodes:\n  - name: ghost\n    address: 127.0.0.1:9\n    os: linux\n',
      ),
    );
    const run = runCli(['capture', 'all', '--inventory', bad, '-t', 'ICMP', '-o', 'json']);
    await waitFor(
      () => run.err().includes('ghost: FAILED') && (run.err().match(/capturing/g) ?? []).length === 2,
      'ghost to fail, the others to start',
      20_000,
    );
    ping('pod-1-1', 'pod-2-1', 3);
    await waitFor(() => packets(run.out()).length >= 36, '36 packets');
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 4);
    assert.match(run.err(), /ghost: FAILED \[ghost\] CNSPECT_AGENT_UNREACHABLE: agent ghost is unreachable/);
    // The survivors captured on: 3 pings = 6 packets on each of 3 interfaces per node.
    for (const node of [`${name}-node1`, `${name}-node2`]) {
      assert.equal(packets(run.out()).filter((p) => p.node === node).length, 18, node);
      assert.match(run.err(), new RegExp(`${node}: 18 packets, \\d+ bytes captured \\(stopped\\)`));
    }
    assert.match(run.err(), /CNSPECT_NODE_FAILED: 1 of 3 failed: ghost/);
  });

  it('--max-packets is a total over all nodes, like tcpdump -c: exactly N shown and written', async () => {
    const file = join(dir, 'max.pcapng');
    const run = runCli([
      'capture',
      'all',
      '--inventory',
      inv,
      '-t',
      'ICMP',
      '--max-packets',
      '7',
      '-o',
      'json',
      '-w',
      file,
    ]);
    await waitFor(() => (run.err().match(/capturing/g) ?? []).length === 2, 'both nodes to start', 20_000);
    ping('pod-1-1', 'pod-2-1', 10); // 60 packets on each node
    assert.equal(await run.exit, 0, run.err());
    assert.equal(packets(run.out()).length, 7);
    assert.equal(sh(['tshark', '-r', file, '-T', 'fields', '-e', 'frame.number']).trim().split('\n').length, 7);
    assert.match(run.err(), /--max-packets 7 reached over 2 nodes/);
    assert.match(run.err(), new RegExp(`7 packets written to ${file.replace(/[.]/g, '\\.')}`));
    assert.doesNotMatch(run.err(), /FAILED/);
  });

  it('a Ctrl+C while the nodes start stops each as it starts: exit 0, no node failed, no tcpdump left', async () => {
    const file = join(dir, 'early.pcapng');
    const run = runCli(['capture', 'all', '--inventory', inv, '-t', 'ICMP', '-w', file]);
    await waitFor(() => run.signals.listenerCount('SIGINT') > 0, 'the capture to listen for Ctrl+C');
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 0, run.err());
    for (const node of [`${name}-node1`, `${name}-node2`])
      assert.match(run.err(), new RegExp(`${node}: stopped before the capture started`));
    assert.doesNotMatch(run.err(), /FAILED/);
    for (const node of [`${name}-node1`, `${name}-node2`]) await waitNoTcpdump(node);
  });

  it('a second Ctrl+C quits at once and says the final counts were not collected', async () => {
    const run = runCli(['capture', 'all', '--inventory', inv, '-t', 'ICMP']);
    await waitFor(() => (run.err().match(/capturing/g) ?? []).length === 2, 'both nodes to start', 20_000);
    run.signals.emit('SIGINT');
    run.signals.emit('SIGINT');
    await run.exit;
    assert.match(run.err(), /quitting at once: final counts were not collected from /);
    for (const node of [`${name}-node1`, `${name}-node2`]) await waitNoTcpdump(node);
  });

  it('counter -n reads the live counters of one node', async () => {
    const run = runCli(['capture', 'all', '--inventory', inv, '-t', 'ICMP', '--counters-only']);
    await waitFor(() => (run.err().match(/capturing/g) ?? []).length === 2, 'both nodes to start', 20_000);
    ping('pod-2-1', 'pod-2-2', 3);
    await waitFor(async () => {
      const c = runCli(['counter', '--inventory', inv, '-n', `${name}-node2`, '-o', 'json']);
      await c.exit;
      const s = JSON.parse(c.out() || '[]') as Array<{ node: string; counters?: { packets: number } }>;
      return s.length === 1 && s[0]!.node === `${name}-node2` && s[0]!.counters?.packets === 12;
    }, 'node2 to count 12 packets');
    type Stats = {
      interface: string;
      onCapturePath: boolean;
      rxPackets: number;
      txPackets: number;
      rxDropped: number;
      txErrors: number;
    };
    const read = async (args: string[]): Promise<Stats[]> => {
      const c = runCli(['counter', '--inventory', inv, '-n', `${name}-node2`, '-o', 'json', ...args]);
      assert.equal(await c.exit, 0);
      return (JSON.parse(c.out()) as Array<{ interfaceStats: Stats[] }>)[0]!.interfaceStats;
    };
    // The capture path (two pods on one bridge: their veths; bridged frames skip cni0's own stack)
    // with the interfaces' own kernel counters …
    const onPath = await read([]);
    assert.deepEqual(onPath.map((i) => i.interface).sort(), [pod('pod-2-1').hostVeth, pod('pod-2-2').hostVeth].sort());
    const veth = onPath.find((i) => i.interface === pod('pod-2-1').hostVeth)!;
    assert.ok(veth.onCapturePath && veth.rxPackets >= 3 && veth.txPackets >= 3, JSON.stringify(veth));
    assert.ok(onPath.every((i) => Number.isInteger(i.rxDropped) && Number.isInteger(i.txErrors)));
    // … and with -i the others too, marked as off the path.
    const all = await read(['-i']);
    assert.ok(all.some((i) => i.interface === 'lo' && !i.onCapturePath));
    assert.ok(all.some((i) => i.interface === 'eth0' && !i.onCapturePath));
    assert.ok(all.length > onPath.length);
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 0);
    assert.match(run.out(), new RegExp(`${name}-node2\\s+${pod('pod-2-1').hostVeth}\\s+3\\s+312\\s+3\\s+312`));
  });

  it("vfp-counter shows a pod's host interface, bridge, node NIC and its namespace's protocol counters", async () => {
    type Report = {
      node: string;
      pod: string;
      ports: Array<{ role: string; interface: string; rxPackets: number; txPackets: number }>;
      protocolCounters: Record<string, number>;
    };
    const read = async (p: string, detailed: boolean): Promise<Report> => {
      const c = runCli(['vfp-counter', '-p', p, '--inventory', inv, '-o', 'json', ...(detailed ? ['-d'] : [])]);
      assert.equal(await c.exit, 0, c.err());
      return JSON.parse(c.out()) as Report;
    };
    const before = await read('pod-2-1', false);
    const senderBefore = await read('default/pod-1-1', false);
    inNs(pod('pod-1-1').netns, ['node', TRAFFIC, 'udp-send', pod('pod-2-1').ip, '9999:5']);
    const after = await read('pod-2-1', true);
    const senderAfter = await read('default/pod-1-1', false);
    assert.equal(after.node, `${name}-node2`);
    assert.equal(after.pod, 'default/pod-2-1');
    assert.deepEqual(
      before.ports.map((p) => [p.role, p.interface]),
      [['pod-host-interface', pod('pod-2-1').hostVeth]],
    );
    assert.deepEqual(
      after.ports.map((p) => [p.role, p.interface]),
      [
        ['pod-host-interface', pod('pod-2-1').hostVeth],
        ['bridge', 'cni0'],
        ['node-nic', 'eth0'],
      ],
    );
    // The host veth sends toward the pod: the 5 datagrams are on its tx side.
    // At least the 5 datagrams; the kernel counts whatever else crossed (ARP), so not exactly 5.
    assert.ok(after.ports[0]!.txPackets - before.ports[0]!.txPackets >= 5);
    assert.equal(
      after.protocolCounters['Udp.NoPorts']! - before.protocolCounters['Udp.NoPorts']!,
      5,
      'closed port: 5 x NoPorts in the receiving pod',
    );
    assert.equal(
      senderAfter.protocolCounters['Udp.OutDatagrams']! - senderBefore.protocolCounters['Udp.OutDatagrams']!,
      5,
    );
    for (const key of [
      'Tcp.RetransSegs',
      'Tcp.OutRsts',
      'Tcp.EstabResets',
      'Udp.RcvbufErrors',
      'Udp.SndbufErrors',
      'Udp.InErrors',
    ])
      assert.ok(key in after.protocolCounters, key);
    const routed = await read('pod-2-routed', true);
    assert.deepEqual(
      routed.ports.map((p) => [p.role, p.interface]),
      [
        ['pod-host-interface', pod('pod-2-routed').hostVeth],
        ['node-nic', 'eth0'],
      ],
      'a routed pod has no bridge',
    );
    const missing = runCli(['vfp-counter', '-p', 'nope', '--inventory', inv]);
    assert.equal(await missing.exit, 2);
    assert.match(
      missing.err(),
      /CNSPECT_POD_NOT_FOUND: no pod default\/nope in the inventory; namespace default has: pod-1-1/,
    );
  });

  it('hns: endpoints, networks, load balancers and namespaces match what the lab and the test built', async () => {
    // A kube-proxy-like service: VIP 10.96.0.10:80/tcp → two pods, through a service chain and a verdict map.
    sh(
      ['ip', 'netns', 'exec', `${name}-node1`, 'nft', '-f', '-'],
      `table ip kube-proxy {
  chain services { type nat hook prerouting priority dstnat; ip daddr 10.96.0.10 tcp dport 80 jump svc-web; }
  chain svc-web { numgen random mod 2 vmap { 0 : jump sep-a, 1 : jump sep-b }; }
  chain sep-a { meta l4proto tcp dnat to ${pod('pod-1-1').ip}:8080; }
  chain sep-b { meta l4proto tcp dnat to ${pod('pod-2-1').ip}:8080; }
}
`,
    );
    type Dp = {
      node: string;
      endpoints: Array<{
        name: string;
        pod: string;
        ips: string[];
        mac: string;
        hostInterface: string;
        netns: string;
        network: string;
      }>;
      networks: Array<{
        name: string;
        type: string;
        subnets: string[];
        gateways: string[];
        interfaces: string[];
        vni: number;
      }>;
      loadBalancers: Array<{
        vip: string;
        port: number;
        protocol: string;
        source: string;
        backends: Array<{ ip: string; port: number; pod: string }>;
      }>;
      namespaces: Array<{ name: string; inode: number; endpointIps: string[] }>;
      raw: { links?: unknown };
    };
    const hns = async (section: string, nodes: string): Promise<Dp[]> => {
      const c = runCli(['hns', section, '--inventory', inv, '-n', nodes, '-d']);
      assert.equal(await c.exit, 0, c.err());
      return JSON.parse(c.out()) as Dp[];
    };
    const [n1, n2] = await hns('all', `${name}-node1,${name}-node2`);
    const macOf = (ns: string): string =>
      (JSON.parse(sh(['ip', '-n', ns, '-j', 'link', 'show', 'eth0'])) as Array<{ address: string }>)[0]!.address;
    assert.deepEqual(
      n2!.endpoints.map((e) => [e.pod, e.ips, e.mac, e.hostInterface, e.netns, e.network]),
      ['pod-2-1', 'pod-2-2', 'pod-2-routed'].map((p) => {
        const q = pod(p);
        return [`default/${p}`, [q.ip], macOf(q.netns), q.hostVeth, q.netns, q.routed ? 'routed' : 'cni0'];
      }),
    );
    assert.deepEqual(
      n2!.networks.map((n) => [n.name, n.type, n.subnets, n.gateways, [...n.interfaces].sort()]),
      [
        [
          'cni0',
          'bridge',
          ['10.244.2.0/24'],
          ['10.244.2.1'],
          [pod('pod-2-1').hostVeth, pod('pod-2-2').hostVeth].sort(),
        ],
        ['routed', 'routed', ['10.244.2.200/32'], [], [pod('pod-2-routed').hostVeth]],
      ],
    );
    assert.deepEqual(n1!.loadBalancers, [
      {
        vip: '10.96.0.10',
        port: 80,
        protocol: 'tcp',
        source: 'nftables',
        backends: [
          { ip: pod('pod-1-1').ip, port: 8080, pod: 'default/pod-1-1' },
          { ip: pod('pod-2-1').ip, port: 8080, pod: 'default/pod-2-1' },
        ],
      },
    ]);
    assert.deepEqual(n2!.loadBalancers, []);
    const { statSync } = await import('node:fs');
    for (const p of ['pod-1-1', 'pod-1-2']) {
      const ns = n1!.namespaces.find((x) => x.name === pod(p).netns)!;
      assert.equal(ns.inode, statSync(`/run/netns/${pod(p).netns}`).ino);
      assert.deepEqual(ns.endpointIps, [pod(p).ip]);
    }
    assert.equal(n1!.namespaces[0]!.name, '', "the node's own namespace comes first");
    assert.ok(Array.isArray(n1!.raw.links), 'raw readings kept beside the normalised fields');
    // One section only.
    const [lbOnly] = await hns('loadbalancers', `${name}-node1`);
    assert.equal(lbOnly!.loadBalancers.length, 1);
    assert.deepEqual([lbOnly!.endpoints.length, lbOnly!.networks.length, lbOnly!.namespaces.length], [0, 0, 0]);
    const text = runCli(['hns', 'endpoints', '--inventory', inv, '-n', `${name}-node2`]);
    assert.equal(await text.exit, 0);
    assert.match(
      text.out(),
      new RegExp(
        `${pod('pod-2-routed').netns}\\s+default/pod-2-routed\\s+10\\.244\\.2\\.200\\s+\\S+\\s+` +
          `${pod('pod-2-routed').hostVeth}\\s+routed`,
      ),
    );
    // kube-proxy's iptables mode (iptables-save text): KUBE-SERVICES → KUBE-SVC → KUBE-SEP DNAT.
    const ipt = (args: string[]): void => {
      sh(['ip', 'netns', 'exec', `${name}-node2`, 'iptables', '-t', 'nat', ...args]);
    };
    for (const c of ['KUBE-SERVICES', 'KUBE-SVC-DNS', 'KUBE-SEP-A', 'KUBE-SEP-B']) ipt(['-N', c]);
    ipt(['-A', 'PREROUTING', '-j', 'KUBE-SERVICES']);
    ipt([
      '-A',
      'KUBE-SERVICES',
      '-d',
      '10.96.0.53/32',
      '-p',
      'udp',
      '-m',
      'comment',
      '--comment',
      'kube-system/dns:dns cluster IP',
      '-m',
      'udp',
      '--dport',
      '53',
      '-j',
      'KUBE-SVC-DNS',
    ]);
    ipt(['-A', 'KUBE-SVC-DNS', '-m', 'statistic', '--mode', 'random', '--probability', '0.5', '-j', 'KUBE-SEP-A']);
    ipt(['-A', 'KUBE-SVC-DNS', '-j', 'KUBE-SEP-B']);
    ipt(['-A', 'KUBE-SEP-A', '-p', 'udp', '-m', 'udp', '-j', 'DNAT', '--to-destination', `${pod('pod-2-1').ip}:5353`]);
    ipt(['-A', 'KUBE-SEP-B', '-p', 'udp', '-m', 'udp', '-j', 'DNAT', '--to-destination', `${pod('pod-2-2').ip}:5353`]);
    const [withIpt] = await hns('loadbalancers', `${name}-node2`);
    assert.deepEqual(
      withIpt!.loadBalancers.map((l) => [l.vip, l.port, l.protocol, l.backends.map((b) => `${b.ip}:${b.port}`)]),
      [['10.96.0.53', 53, 'udp', [`${pod('pod-2-1').ip}:5353`, `${pod('pod-2-2').ip}:5353`]]],
    );
    const bad = runCli(['hns', 'everything', '--inventory', inv]);
    assert.equal(await bad.exit, 2);
    assert.match(bad.err(), /hns section: "everything"; allowed: all, endpoints, loadbalancers, namespaces, networks/);
  });

  it('one agent killed mid-capture: the other finishes with its counts, the failure names the node', async () => {
    const run = runCli(['capture', 'all', '--inventory', inv, '-t', 'ICMP', '-o', 'json']);
    await waitFor(() => (run.err().match(/capturing/g) ?? []).length === 2, 'both nodes to start', 20_000);
    const node2 = labStatus(name)!.nodes[1]!;
    process.kill(node2.agentPid!, 'SIGKILL');
    await waitFor(() => run.err().includes(`${node2.name}: FAILED`), 'the failure of node2');
    ping('pod-1-1', 'pod-1-2', 3);
    await waitFor(() => packets(run.out()).filter((p) => p.node === `${name}-node1`).length >= 12, 'node1 packets');
    run.signals.emit('SIGINT');
    assert.equal(await run.exit, 4);
    assert.match(run.err(), new RegExp(`${name}-node1: 12 packets, \\d+ bytes captured \\(stopped\\)`));
    assert.match(run.err(), new RegExp(`CNSPECT_NODE_FAILED: 1 of 2 failed: ${node2.name}`));
    // No tcpdump of the dead agent survives it.
    await waitNoTcpdump(`${name}-node2`);
  });
});

describe('lab (overlay)', () => {
  const name = `to${randomBytes(2).toString('hex')}`;
  let lab: LabState;

  before(async () => {
    lab = await labUp({ name, nodes: 2, podsPerNode: 1, network: 'overlay', agentPort: 50051 });
  });
  after(async () => {
    await labDown(name);
    assert.deepEqual(leftovers(name), []);
  });

  it('carries pod traffic inside VXLAN on the node link', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cnspect-overlay-'));
    try {
      const file = join(dir, 'vxlan.pcapng');
      const run = runCli([
        'capture',
        'nodes',
        `${name}-node1`,
        '--inventory',
        lab.inventoryPath,
        '--interface',
        'eth0',
        '-t',
        'UDP',
        '-r',
        '4789',
        '-w',
        file,
        '-o',
        'json',
      ]);
      await waitFor(() => run.err().includes('capturing'), 'the capture to start', 20_000);
      const [a, b] = lab.plan.pods;
      inNs(a!.netns, ['ping', '-c', '5', '-i', '0.01', '-W', '2', b!.ip]);
      await waitFor(() => packets(run.out()).length >= 10, '10 VXLAN packets');
      run.signals.emit('SIGINT');
      assert.equal(await run.exit, 0, run.err());
      const rows = sh([
        'tshark',
        '-r',
        file,
        '-Y',
        'vxlan && icmp',
        '-T',
        'fields',
        '-e',
        'vxlan.vni',
        '-e',
        'ip.src',
        '-e',
        'ip.dst',
      ])
        .trim()
        .split('\n');
      // Outer and inner addresses both appear in ip.src/ip.dst: the inner pod IPs are inside VXLAN 42.
      assert.equal(rows.length, 10);
      assert.ok(
        rows.every((r) => r.startsWith('42\t') && r.includes(a!.ip) && r.includes(b!.ip)),
        rows[0],
      );
      const h = runCli(['hns', 'networks', '--inventory', lab.inventoryPath, '-n', `${name}-node1`, '-d']);
      assert.equal(await h.exit, 0, h.err());
      const nets = (
        JSON.parse(h.out()) as Array<{
          networks: Array<{ name: string; type: string; vni: number; subnets: string[] }>;
        }>
      )[0]!.networks;
      assert.deepEqual(
        nets.find((n) => n.type === 'vxlan'),
        {
          name: 'vxlan0',
          type: 'vxlan',
          vni: 42,
          subnets: ['10.245.0.0/24'],
          gateways: [],
          interfaces: ['vxlan0'],
          cniConfigPath: '',
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('lab down after a killed up', () => {
  it('removes what a half-built lab left behind', async () => {
    const name = `tk${randomBytes(2).toString('hex')}`;
    const bin = new URL('../../bin/cnspect.js', import.meta.url).pathname;
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [bin, 'lab', 'up', '--name', name, '--nodes', '3'], { stdio: 'ignore' });
    try {
      await waitFor(() => existsSync(`/run/netns/${name}-node2`), 'the lab to be half built');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('close', r));
      assert.notDeepEqual(leftovers(name), [], 'something was left to clean');
    } finally {
      child.kill('SIGKILL');
      const run = runCli(['lab', 'down', '--name', name]);
      assert.equal(await run.exit, 0);
    }
    assert.deepEqual(leftovers(name), []);
  });
});
