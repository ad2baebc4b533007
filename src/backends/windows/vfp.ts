// VFP port counters of a pod (wcnspect's vfp-counter): the pod's VFP port is its HNS endpoint's
// allocator tagged "Endpoint Port"; the host vNIC is the network's allocator tagged "Host Vnic";
// the external adapter is the switch port vfpctrl names "ExternalPort". Counters come from
// `vfpctrl /format 1` JSON, or its text where a build has no JSON. Nothing depends on the locale.
import { CnspectError } from '../../errors.js';
import type { PodRef } from '../../gen/cnspect/v1/agent.js';
import type { LinkStats, PortReport } from '../backend.js';
import { endpointFromHns } from './hns-parse.js';
import { hnsEndpointObjects, hnsNetworkObjects } from './hns.js';
import { mustRun, runTool, type WindowsTools } from './tools.js';

const GUID = /^\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?$/;

function bad(what: string, text: string): never {
  throw new CnspectError(
    'CNSPECT_TOOL_FAILED',
    `unrecognised vfpctrl output: ${what}: ${JSON.stringify(text.trim().slice(0, 120))}`,
    { hint: 'please report the output with the Windows build' },
  );
}

export interface VfpDirection {
  direction: 'in' | 'out';
  counters: Map<string, number>;
}

/**
 * `vfpctrl /port GUID /get-port-counter /format 1`: `InformationArray.PortCounters[]` with
 * Direction (0 egress = out, 1 ingress = in) and numeric counters (TotalPackets, TotalBytes,
 * DroppedPackets, DroppedAcl, TcpResetPackets, …). No recorded output is public; this follows the
 * documented field list and refuses anything without it.
 */
export function parseVfpPortCountersJson(text: string): VfpDirection[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return bad('not JSON', text);
  }
  const info = (doc as { InformationArray?: unknown })?.InformationArray;
  const holders = Array.isArray(info) ? info : [info];
  const list = holders.flatMap(
    (h) => ((h as { PortCounters?: unknown[] } | undefined)?.PortCounters ?? []) as Array<Record<string, unknown>>,
  );
  if (list.length === 0) bad('no InformationArray.PortCounters', text);
  return list.map((c) => {
    if (c.Direction !== 0 && c.Direction !== 1) bad('a port counter without Direction 0 or 1', JSON.stringify(c));
    const counters = new Map<string, number>();
    for (const [k, v] of Object.entries(c))
      if (k !== 'Direction' && typeof v === 'number' && Number.isSafeInteger(v)) counters.set(k, v);
    if (!counters.has('TotalPackets')) bad('a port counter without TotalPackets', JSON.stringify(c));
    return { direction: c.Direction === 1 ? 'in' : 'out', counters };
  });
}

/**
 * `vfpctrl /port GUID /get-port-counter` as text: a "Direction - IN" and a "Direction - OUT"
 * section of "Name : number" lines (the sections wcnscripts reads). Names lose their spaces so
 * both forms give the same keys ("Total packets" → "Totalpackets").
 */
export function parseVfpPortCountersText(text: string): VfpDirection[] {
  const out: VfpDirection[] = [];
  let cur: VfpDirection | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const d = /^\s*Direction\s*-\s*(IN|OUT)\b/i.exec(raw);
    if (d) {
      cur = { direction: d[1]!.toLowerCase() as 'in' | 'out', counters: new Map() };
      out.push(cur);
      continue;
    }
    const kv = /^\s*([A-Za-z][A-Za-z0-9 ./()-]*?)\s*:\s*(\d+)\s*$/.exec(raw);
    if (kv && cur) cur.counters.set(kv[1]!.replace(/\s+/g, ''), Number(kv[2]));
  }
  if (out.length === 0 || out.every((x) => x.counters.size === 0))
    bad('no "Direction - IN/OUT" sections with counters', text);
  return out;
}

export interface VfpPort {
  friendlyName: string;
  guid: string;
  mac: string;
}

/** `vfpctrl /list-vmswitch-port /format 1`: `Ports[]{ Id (friendly name), Name (port GUID), MacAddress }`. */
export function parseVfpPortsJson(text: string): VfpPort[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return bad('not JSON', text);
  }
  const ports = (doc as { Ports?: unknown })?.Ports;
  if (!Array.isArray(ports)) return bad('no Ports list', text);
  return ports.map((p: Record<string, unknown>) => {
    if (typeof p.Name !== 'string' || !GUID.test(p.Name)) bad('a port without a GUID Name', JSON.stringify(p));
    return { friendlyName: String(p.Id ?? ''), guid: String(p.Name), mac: String(p.MacAddress ?? '').toUpperCase() };
  });
}

export interface VfpRule {
  layer: string;
  group: string;
  id: string;
  friendlyName: string;
  priority: number;
  type: string;
  flags: string;
  conditions: string[];
}
export interface VfpRuleGroup {
  name: string;
  friendlyName: string;
  priority: number;
  direction: string;
  type: string;
  conditions: string[];
  rules: VfpRule[];
}

/** `vfpctrl /port GUID /layer L [/group G] /list-rule`: the "ITEM LIST" of groups and their rules. */
export function parseVfpRules(text: string): VfpRuleGroup[] {
  if (!/^\s*ITEM LIST\s*$/m.test(text)) bad('no "ITEM LIST" header', text);
  const groups: VfpRuleGroup[] = [];
  let group: VfpRuleGroup | undefined;
  let target: { conditions: string[] } | undefined;
  let rule: VfpRule | undefined;
  let inConditions = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || /^ITEM LIST$|^=+$/.test(line)) continue;
    const head = /^(GROUP|RULE)\s*:\s*(\S+)$/.exec(line);
    if (head) {
      inConditions = false;
      if (head[1] === 'GROUP') {
        group = { name: head[2]!, friendlyName: '', priority: 0, direction: '', type: '', conditions: [], rules: [] };
        groups.push(group);
        target = group;
        rule = undefined;
      } else {
        if (!group) bad('a rule before any group', raw);
        rule = {
          layer: '',
          group: group.name,
          id: head[2]!,
          friendlyName: '',
          priority: 0,
          type: '',
          flags: '',
          conditions: [],
        };
        group.rules.push(rule);
        target = rule;
      }
      continue;
    }
    if (line === 'Conditions:') {
      inConditions = true;
      continue;
    }
    const kv = /^([A-Za-z][A-Za-z ]*?)\s*:\s*(.*)$/.exec(line);
    if (
      inConditions &&
      line !== '<none>' &&
      kv &&
      !/^(Flow TTL|FlagsEx|Match type|Friendly name|Priority|Flags|Type|Direction)$/.test(kv[1]!)
    ) {
      target?.conditions.push(line);
      continue;
    }
    if (line === '<none>') continue;
    inConditions = false;
    if (!kv || !target) bad('a line that is not "Key : value"', raw);
    const key = kv[1]!;
    const v = kv[2]!.trim();
    const into: { friendlyName: string; priority: number; type: string } =
      rule ?? group ?? bad('a line before any group', raw);
    if (key === 'Friendly name') into.friendlyName = v;
    else if (key === 'Priority') into.priority = Number(v);
    else if (key === 'Type') into.type = v;
    else if (key === 'Direction' && !rule && group) group.direction = v;
    else if (key === 'Flags' && rule) rule.flags = v;
  }
  return groups;
}

function statsOf(dirs: VfpDirection[]): LinkStats {
  const get = (d: 'in' | 'out', ...keys: string[]): number => {
    const c = dirs.find((x) => x.direction === d)?.counters;
    for (const k of keys) {
      const v = c?.get(k);
      if (v !== undefined) return v;
    }
    return 0;
  };
  return {
    rxPackets: get('in', 'TotalPackets', 'Totalpackets'),
    rxBytes: get('in', 'TotalBytes', 'Totalbytes'),
    rxDropped: get('in', 'DroppedPackets', 'Droppedpackets'),
    rxErrors: 0,
    txPackets: get('out', 'TotalPackets', 'Totalpackets'),
    txBytes: get('out', 'TotalBytes', 'Totalbytes'),
    txDropped: get('out', 'DroppedPackets', 'Droppedpackets'),
    txErrors: 0,
  };
}

/** One port's counters: JSON (`/format 1`) first, the text form where the build has no JSON. */
export async function vfpPortReading(tools: WindowsTools, guid: string): Promise<VfpDirection[]> {
  if (!GUID.test(guid))
    throw new CnspectError(
      'CNSPECT_TOOL_FAILED',
      `HNS gave ${JSON.stringify(guid)} as a VFP port, which is not a GUID`,
    );
  const json = await runTool(tools.vfpctrl, ['/port', guid, '/get-port-counter', '/format', '1']);
  if (json.code === 0 && json.out.trim().startsWith('{')) return parseVfpPortCountersJson(json.out);
  return parseVfpPortCountersText(
    await mustRun(tools.vfpctrl, ['/port', guid, '/get-port-counter'], 'reading VFP port counters'),
  );
}

const allocatorGuid = (o: Record<string, unknown> | undefined, tag: string): string | undefined => {
  const a = ((o?.Resources as { Allocators?: Array<Record<string, unknown>> } | undefined)?.Allocators ?? []).find(
    (x) => x.Tag === tag,
  );
  return typeof a?.EndpointPortGuid === 'string' ? a.EndpointPortGuid : undefined;
};

export async function vfpPortCounters(
  tools: WindowsTools,
  pod: PodRef,
  detailed: boolean,
  node: string,
): Promise<PortReport> {
  const endpoints = await hnsEndpointObjects(tools);
  const obj = endpoints.find((o) => endpointFromHns(o).ips.some((ip) => pod.ips.includes(ip)));
  const label = `${pod.namespace}/${pod.name}`;
  if (!obj)
    throw new CnspectError(
      'CNSPECT_POD_NOT_FOUND',
      `no HNS endpoint on ${node} has an IP of pod ${label} (${pod.ips.join(', ')})`,
      { hint: 'check that the pod runs on this node: kubectl get pod -o wide' },
    );
  const guid = allocatorGuid(obj, 'Endpoint Port');
  if (!guid)
    throw new CnspectError(
      'CNSPECT_POD_NOT_FOUND',
      `HNS endpoint ${String(obj.ID ?? obj.Id)} of pod ${label} has no allocator tagged "Endpoint ` +
        `Port"${obj.IsRemoteEndpoint ? ' (it is a remote endpoint: the pod runs on another node)' : ''}`,
    );
  const report: PortReport = { ports: [], protocolCounters: [] };
  const add = (role: string, name: string, dirs: VfpDirection[]): void => {
    report.ports.push({ role, name, stats: statsOf(dirs) });
    for (const d of dirs)
      for (const [k, v] of d.counters)
        report.protocolCounters.push({ group: `${role} ${d.direction}`, name: k, value: v });
  };
  add('vfp-port', guid, await vfpPortReading(tools, guid));
  if (detailed) {
    const networks = await hnsNetworkObjects(tools);
    const netId = String(obj.VirtualNetwork ?? obj.HostComputeNetwork ?? '').toLowerCase();
    const net =
      networks.find((n) => String(n.ID ?? n.Id).toLowerCase() === netId) ??
      (networks.length === 1 ? networks[0] : undefined);
    const vnic = allocatorGuid(net, 'Host Vnic');
    if (vnic) add('host-vnic', vnic, await vfpPortReading(tools, vnic));
    const list = await mustRun(tools.vfpctrl, ['/list-vmswitch-port', '/format', '1'], 'listing VFP switch ports');
    for (const p of parseVfpPortsJson(list).filter((x) => /^ExternalPort/i.test(x.friendlyName)))
      add('external-adapter', p.guid, await vfpPortReading(tools, p.guid));
  }
  return report;
}
