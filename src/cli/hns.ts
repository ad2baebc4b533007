// `cnspect hns all|endpoints|loadbalancers|namespaces|networks` — each node's datapath state in
// one schema for Linux and Windows (docs/datapath.md): tables by default, JSON with -d/--json.
import { Command } from 'commander';
import { badFlag } from '../errors.js';
import { fleetExit } from './fleet-report.js';
import { type DatapathResponse, DatapathSection } from '../gen/cnspect/v1/agent.js';
import { safe, table } from '../output/terminal.js';
import type { CliContext } from './context.js';
import { parseOutputFormat } from './flags.js';
import {
  type FlagsOf,
  NODES_OPTION,
  type OptionTable,
  SERVER_KIND_OPTION,
  TARGET_OPTIONS,
  withOptions,
} from './options.js';

export const HNS_SECTIONS: Record<string, DatapathSection> = {
  all: DatapathSection.DATAPATH_SECTION_ALL,
  endpoints: DatapathSection.DATAPATH_SECTION_ENDPOINTS,
  loadbalancers: DatapathSection.DATAPATH_SECTION_LOADBALANCERS,
  namespaces: DatapathSection.DATAPATH_SECTION_NAMESPACES,
  networks: DatapathSection.DATAPATH_SECTION_NETWORKS,
};

const HNS_OPTIONS = {
  ...NODES_OPTION,
  json: { flags: '-d, --json', description: 'JSON, with the raw platform readings beside the normalised fields' },
  output: { flags: '-o, --output <format>', description: 'text or json (json as -d)', default: 'text' },
  ...TARGET_OPTIONS,
  ...SERVER_KIND_OPTION,
} as const satisfies OptionTable;

export type HnsFlags = FlagsOf<typeof HNS_OPTIONS>;

/** JSON form of one node's datapath; pods named from the inventory where their IPs are known. */
export function datapathJson(r: DatapathResponse, pods: Map<string, string>): Record<string, unknown> {
  return {
    node: r.node,
    os: r.os,
    endpoints: r.endpoints.map((e) => ({ ...e, pod: e.ips.map((ip) => pods.get(ip)).find(Boolean) ?? null })),
    networks: r.networks,
    loadBalancers: r.loadBalancers.map((l) => ({
      ...l,
      backends: l.backends.map((b) => ({ ...b, pod: pods.get(b.ip) ?? null })),
    })),
    namespaces: r.namespaces.map((n) => ({ ...n, inode: Number(n.inode) })),
    raw: JSON.parse(r.rawJson || '{}') as unknown,
  };
}

export function renderDatapath(r: DatapathResponse, pods: Map<string, string>): string {
  const parts: string[] = [`node ${safe(r.node)} (${r.os})`];
  if (r.endpoints.length)
    parts.push(
      table(
        ['ENDPOINT', 'POD', 'IPS', 'MAC', 'HOST INTERFACE', 'NETWORK'],
        r.endpoints.map((e) => [
          safe(e.name),
          e.ips.map((ip) => pods.get(ip)).find(Boolean) ?? '-',
          e.ips.join(','),
          e.mac,
          safe(e.hostInterface),
          safe(e.network),
        ]),
      ),
    );
  if (r.networks.length)
    parts.push(
      table(
        ['NETWORK', 'TYPE', 'SUBNETS', 'GATEWAYS', 'INTERFACES', 'VNI'],
        r.networks.map((n) => [
          safe(n.name),
          n.type,
          n.subnets.join(','),
          n.gateways.join(',') || '-',
          n.interfaces.map(safe).join(',') || '-',
          n.vni ? String(n.vni) : '-',
        ]),
      ),
    );
  if (r.loadBalancers.length)
    parts.push(
      table(
        ['VIP', 'PORT', 'PROTOCOL', 'BACKENDS', 'SOURCE'],
        r.loadBalancers.map((l) => [
          l.vip,
          String(l.port),
          l.protocol || '-',
          l.backends.map((b) => `${b.ip}:${b.port}${pods.get(b.ip) ? ` (${pods.get(b.ip)})` : ''}`).join(', '),
          l.source,
        ]),
      ),
    );
  if (r.namespaces.length)
    parts.push(
      table(
        ['NAMESPACE', 'INODE', 'INTERFACES', 'ENDPOINT IPS'],
        r.namespaces.map((n) => [
          n.name || '(node)',
          String(n.inode),
          n.interfaces.map((i) => `${safe(i.name)}${i.addresses.length ? `[${i.addresses.join(',')}]` : ''}`).join(' '),
          n.endpointIps.join(',') || '-',
        ]),
      ),
    );
  return parts.join('\n\n');
}

export async function runHns(sectionName: string, flags: HnsFlags, ctx: CliContext): Promise<number> {
  const section = HNS_SECTIONS[sectionName];
  const json = flags.json === true || parseOutputFormat(flags.output) === 'json';
  if (section === undefined) throw badFlag('hns section', sectionName, Object.keys(HNS_SECTIONS).join(', '));
  const { parseServerKind, askWcnspectNodes } = await import('./wcnspect.js');
  if (parseServerKind(flags.serverKind) === 'wcnspect')
    return askWcnspectNodes(flags, `hns ${sectionName}`, ctx, (srv) => srv.hcnLogs(sectionName, json));
  const { askNodes } = await import('./inventory-agents.js');
  const { podNamesByIp } = await import('../cluster/targets.js');
  const {
    inventory,
    results: ok,
    failure,
  } = await askNodes(flags, flags.nodes, ctx, `hns ${sectionName}`, (agent) => agent.datapath(section));
  const pods = podNamesByIp(inventory);
  ctx.out.write(
    json
      ? `${JSON.stringify(ok.map((r) => datapathJson(r, pods)))}\n`
      : `${ok.map((r) => renderDatapath(r, pods)).join('\n\n')}\n`,
  );
  return fleetExit(failure, ctx.err);
}

export function hnsCommand(ctx: CliContext, setExit: (code: number) => void): Command {
  const cmd = new Command('hns')
    .summary('datapath state of nodes (endpoints, networks, load balancers, namespaces)')
    .description("Each node's datapath state in one schema for Linux and Windows nodes (docs/datapath.md).")
    .argument('<section>', Object.keys(HNS_SECTIONS).join(', '));
  return withOptions(cmd, HNS_OPTIONS).action(async (section: string, flags: HnsFlags) => {
    setExit(await runHns(section, flags, ctx));
  });
}
