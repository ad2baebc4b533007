// The lab as data: names, addresses and the exact `ip` commands that build it, computed by pure
// functions so the topology is tested without touching the OS. Nodes and pods are network
// namespaces; an underlay switch namespace joins the nodes and this host (for the CLI).
import { createHash } from 'node:crypto';
import { badFlag } from '../errors.js';

export type LabNetwork = 'bridge' | 'overlay';

export interface LabOptions {
  name: string;
  nodes: number;
  podsPerNode: number;
  network: LabNetwork;
  agentPort: number;
}

export interface LabNode {
  name: string;
  netns: string;
  underlayIp: string;
  podCidr: string;
  gatewayIp: string;
  overlayIp: string;
  agentAddress: string;
}

export interface LabPod {
  name: string;
  namespace: string;
  node: string;
  netns: string;
  ip: string;
  hostVeth: string;
  /** Calico-style: /32 route and proxy ARP on the node instead of a bridge. */
  routed: boolean;
}

export interface LabPlan {
  options: LabOptions;
  prefix: string;
  switchNetns: string;
  /** The host's end of the underlay, in this (root) namespace. */
  hostInterface: string;
  hostIp: string;
  underlayCidr: string;
  nodes: LabNode[];
  pods: LabPod[];
}

export const LAB_NAME = /^[a-z][a-z0-9]{0,7}$/;
export const LAB_MAX_NODES = 16;
export const LAB_MAX_PODS_PER_NODE = 16;

export function validateLabOptions(o: LabOptions): LabOptions {
  if (!LAB_NAME.test(o.name))
    throw badFlag('--name', o.name, '1-8 lower-case letters and digits, starting with a letter');
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > LAB_MAX_NODES)
    throw badFlag('--nodes', String(o.nodes), `1 to ${LAB_MAX_NODES}`);
  if (!Number.isInteger(o.podsPerNode) || o.podsPerNode < 1 || o.podsPerNode > LAB_MAX_PODS_PER_NODE)
    throw badFlag('--pods-per-node', String(o.podsPerNode), `1 to ${LAB_MAX_PODS_PER_NODE}`);
  if (o.network !== 'bridge' && o.network !== 'overlay')
    throw badFlag('--network', String(o.network), 'bridge or overlay');
  return o;
}

const short = (s: string): string => createHash('md5').update(s).digest('hex').slice(0, 8);

/** Underlay addresses come from 198.18.0.0/15 (RFC 2544, benchmarking), one /24 per lab name. */
export function planLab(options: LabOptions): LabPlan {
  const o = validateLabOptions(options);
  const prefix = o.name;
  const third = (parseInt(short(`lab:${prefix}`), 16) % 200) + 20;
  const underlay = `198.18.${third}`;
  const nodes: LabNode[] = [];
  const pods: LabPod[] = [];
  for (let i = 1; i <= o.nodes; i++) {
    const name = `${prefix}-node${i}`;
    nodes.push({
      name,
      netns: name,
      underlayIp: `${underlay}.${10 + i}`,
      podCidr: `10.244.${i}.0/24`,
      gatewayIp: `10.244.${i}.1`,
      overlayIp: `10.245.0.${i}`,
      agentAddress: `${underlay}.${10 + i}:${o.agentPort}`,
    });
    for (let k = 1; k <= o.podsPerNode; k++) {
      const pod = `pod-${i}-${k}`;
      pods.push({
        name: pod,
        namespace: 'default',
        node: name,
        netns: `${prefix}-pod-${i}-${k}`,
        ip: `10.244.${i}.${10 + k}`,
        hostVeth: `veth${short(`${prefix}/${pod}`)}`,
        routed: false,
      });
    }
  }
  const last = nodes.at(-1)!;
  const routed = `pod-${o.nodes}-routed`;
  pods.push({
    name: routed,
    namespace: 'default',
    node: last.name,
    netns: `${prefix}-pod-${o.nodes}-r`,
    ip: `10.244.${o.nodes}.200`,
    hostVeth: `cali${short(`${prefix}/${routed}`)}`,
    routed: true,
  });
  return {
    options: o,
    prefix,
    switchNetns: `${prefix}-sw`,
    hostInterface: `${prefix}-host`,
    hostIp: `${underlay}.1`,
    underlayCidr: `${underlay}.0/24`,
    nodes,
    pods,
  };
}

/** Every command that builds the lab, in order (argv arrays; run as root). */
export function labSetupCommands(plan: LabPlan): string[][] {
  const c: string[][] = [];
  const { prefix } = plan;
  const overlay = plan.options.network === 'overlay';
  const mtu = overlay ? '1450' : '1500';
  const sw = plan.switchNetns;
  const sysctl = (ns: string, kv: string): string[] => ['ip', 'netns', 'exec', ns, 'sysctl', '-qw', kv];
  c.push(
    ['ip', 'netns', 'add', sw],
    ['ip', '-n', sw, 'link', 'set', 'lo', 'up'],
    ['ip', '-n', sw, 'link', 'add', 'br0', 'type', 'bridge'],
    ['ip', '-n', sw, 'link', 'set', 'br0', 'up'],
  );
  c.push(
    ['ip', 'link', 'add', plan.hostInterface, 'type', 'veth', 'peer', 'name', 'host', 'netns', sw],
    ['ip', '-n', sw, 'link', 'set', 'host', 'master', 'br0', 'up'],
    ['ip', 'addr', 'add', `${plan.hostIp}/24`, 'dev', plan.hostInterface],
    ['ip', 'link', 'set', plan.hostInterface, 'up'],
  );
  plan.nodes.forEach((n, idx) => {
    const i = idx + 1;
    c.push(
      ['ip', 'netns', 'add', n.netns],
      ['ip', '-n', n.netns, 'link', 'set', 'lo', 'up'],
      sysctl(n.netns, 'net.ipv4.ip_forward=1'),
      ['ip', 'link', 'add', `${prefix}u${i}`, 'netns', n.netns, 'type', 'veth', 'peer', 'name', `n${i}`, 'netns', sw],
      ['ip', '-n', sw, 'link', 'set', `n${i}`, 'master', 'br0', 'up'],
      ['ip', '-n', n.netns, 'link', 'set', `${prefix}u${i}`, 'name', 'eth0'],
      ['ip', '-n', n.netns, 'addr', 'add', `${n.underlayIp}/24`, 'dev', 'eth0'],
      ['ip', '-n', n.netns, 'link', 'set', 'eth0', 'up'],
      ['ip', '-n', n.netns, 'link', 'add', 'cni0', 'type', 'bridge'],
      ['ip', '-n', n.netns, 'addr', 'add', `${n.gatewayIp}/24`, 'dev', 'cni0'],
      ['ip', '-n', n.netns, 'link', 'set', 'cni0', 'up'],
      // proxy ARP for the routed pod's gateway 169.254.1.1 needs a unicast route to it on another device
      ['ip', '-n', n.netns, 'route', 'add', '169.254.1.1/32', 'dev', 'lo'],
    );
    if (overlay) {
      c.push(
        [
          'ip',
          '-n',
          n.netns,
          'link',
          'add',
          'vxlan0',
          'type',
          'vxlan',
          'id',
          '42',
          'dstport',
          '4789',
          'local',
          n.underlayIp,
          'dev',
          'eth0',
          'nolearning',
        ],
        ['ip', '-n', n.netns, 'addr', 'add', `${n.overlayIp}/24`, 'dev', 'vxlan0'],
        ['ip', '-n', n.netns, 'link', 'set', 'vxlan0', 'up'],
      );
      for (const other of plan.nodes) {
        if (other === n) continue;
        c.push([
          'bridge',
          '-n',
          n.netns,
          'fdb',
          'append',
          '00:00:00:00:00:00',
          'dev',
          'vxlan0',
          'dst',
          other.underlayIp,
        ]);
      }
    }
    for (const other of plan.nodes) {
      if (other === n) continue;
      c.push(
        overlay
          ? ['ip', '-n', n.netns, 'route', 'add', other.podCidr, 'via', other.overlayIp, 'dev', 'vxlan0']
          : ['ip', '-n', n.netns, 'route', 'add', other.podCidr, 'via', other.underlayIp, 'dev', 'eth0'],
      );
    }
  });
  for (const p of plan.pods) {
    const node = plan.nodes.find((n) => n.name === p.node)!;
    c.push(
      ['ip', 'netns', 'add', p.netns],
      ['ip', '-n', p.netns, 'link', 'set', 'lo', 'up'],
      [
        'ip',
        'link',
        'add',
        'eth0',
        'netns',
        p.netns,
        'mtu',
        mtu,
        'type',
        'veth',
        'peer',
        'name',
        p.hostVeth,
        'netns',
        node.netns,
        'mtu',
        mtu,
      ],
    );
    if (p.routed) {
      c.push(
        ['ip', '-n', node.netns, 'link', 'set', p.hostVeth, 'up'],
        sysctl(node.netns, `net.ipv4.conf.${p.hostVeth}.proxy_arp=1`),
        ['ip', '-n', node.netns, 'route', 'add', `${p.ip}/32`, 'dev', p.hostVeth, 'scope', 'link'],
        ['ip', '-n', p.netns, 'addr', 'add', `${p.ip}/32`, 'dev', 'eth0'],
        ['ip', '-n', p.netns, 'link', 'set', 'eth0', 'up'],
        ['ip', '-n', p.netns, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link'],
        ['ip', '-n', p.netns, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0'],
      );
    } else {
      c.push(
        ['ip', '-n', node.netns, 'link', 'set', p.hostVeth, 'master', 'cni0', 'up'],
        ['ip', '-n', p.netns, 'addr', 'add', `${p.ip}/24`, 'dev', 'eth0'],
        ['ip', '-n', p.netns, 'link', 'set', 'eth0', 'up'],
        ['ip', '-n', p.netns, 'route', 'add', 'default', 'via', node.gatewayIp],
      );
    }
  }
  return c;
}

/** Namespaces a lab named `prefix` may own (for teardown after a crash, from the name alone). */
export function isLabNetns(prefix: string, netns: string): boolean {
  return netns === `${prefix}-sw` || netns.startsWith(`${prefix}-node`) || netns.startsWith(`${prefix}-pod-`);
}
