// Pure parsers for HNS state (hnsdiag, HNS JSON, PowerShell views) into the shared datapath
// schema (docs/datapath.md). hnsdiag prints several JSON objects back to back; they are split
// by bracket depth outside strings. Unknown shapes fail with a clear message.
import { CnspectError } from '../../errors.js';
import type { Endpoint, LoadBalancer, Network } from '../../gen/cnspect/v1/agent.js';

const bad = (what: string): never => {
  throw new CnspectError('CNSPECT_TOOL_FAILED', `unrecognised HNS output: ${what}`, {
    hint: 'please report the output with the Windows build',
  });
};

/** Splits text holding one or more JSON values back to back (hnsdiag), ignoring text around them. */
export function parseConcatenatedJson(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"' && depth > 0) inString = true;
    else if (c === '{' || c === '[') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth < 0) bad(`unbalanced "${c}" at offset ${i}`);
      if (depth === 0) {
        try {
          out.push(JSON.parse(text.slice(start, i + 1)));
        } catch (err) {
          bad(`invalid JSON at offset ${start}: ${(err as Error).message}`);
        }
      }
    }
  }
  if (depth !== 0) bad(`truncated JSON (${depth} bracket(s) left open)`);
  return out;
}

/** HNS objects out of parsed values: arrays are flattened, `{Success, Output}` responses unwrapped. */
export function hnsObjects(values: unknown[]): Array<Record<string, unknown>> {
  return values
    .flatMap((v) => (Array.isArray(v) ? v : [v]))
    .map((v) => {
      const o = v as Record<string, unknown>;
      return (o && typeof o === 'object' && 'Output' in o && 'Success' in o ? o.Output : o) as Record<string, unknown>;
    })
    .filter((o) => o && typeof o === 'object');
}

const mac = (m: unknown): string => (typeof m === 'string' ? m.replace(/-/g, ':').toLowerCase() : '');

/** An HNS endpoint (v1 or v2 JSON) → shared Endpoint; the VFP port is the allocator tagged "Endpoint Port". */
export function endpointFromHns(o: Record<string, unknown>): Endpoint {
  if (typeof o.ID !== 'string' && typeof o.Id !== 'string') bad('an endpoint without ID');
  const ips = new Set<string>();
  if (typeof o.IPAddress === 'string' && o.IPAddress) ips.add(o.IPAddress);
  for (const c of (o.IpConfigurations as Array<{ IpAddress?: string }> | undefined) ?? [])
    if (c.IpAddress) ips.add(c.IpAddress);
  const allocators = (o.Resources as { Allocators?: Array<Record<string, unknown>> } | undefined)?.Allocators ?? [];
  const port = allocators.find((a) => a.Tag === 'Endpoint Port');
  const ns = o.Namespace as { ID?: string } | string | undefined;
  return {
    name: String(o.Name ?? o.ID ?? o.Id),
    ips: [...ips],
    mac: mac(o.MacAddress),
    hostInterface: port ? String(port.EndpointPortGuid ?? port.ID ?? '') : '',
    netns: typeof ns === 'string' ? ns : (ns?.ID ?? ''),
    network: String(o.VirtualNetworkName ?? o.HostComputeNetwork ?? o.VirtualNetwork ?? ''),
  };
}

/** An HNS network (v1 JSON) → shared Network. */
export function networkFromHns(o: Record<string, unknown>): Network {
  const name = o.Name;
  const type = o.Type;
  if (typeof name !== 'string' || typeof type !== 'string') return bad('a network without Name/Type');
  const subnets = (o.Subnets as Array<{ AddressPrefix?: string; GatewayAddress?: string }> | undefined) ?? [];
  return {
    name,
    type,
    subnets: subnets.map((s) => s.AddressPrefix).filter((x): x is string => !!x),
    gateways: subnets.map((s) => s.GatewayAddress).filter((x): x is string => !!x),
    interfaces: [],
    vni: 0,
    cniConfigPath: '',
  };
}

/** PowerShell Format-List text (`Get-HnsEndpoint | fl`): "Key : value" records, continuation lines indented. */
export function parseFormatList(text: string): Array<Record<string, string>> {
  const records: Array<Record<string, string>> = [];
  let cur: Record<string, string> | undefined;
  let lastKey = '';
  for (const raw of text.split(/\r?\n/)) {
    if (!raw.trim()) {
      cur = undefined;
      continue;
    }
    const m = /^(\S[^:]*?)\s+: ?(.*)$/.exec(raw);
    if (m && !/^\s/.test(raw)) {
      if (!cur) {
        cur = {};
        records.push(cur);
      }
      lastKey = m[1]!;
      cur[lastKey] = m[2]!.trimEnd();
    } else if (cur && lastKey && /^\s+\S/.test(raw)) cur[lastKey] += ` ${raw.trim()}`;
    else bad(`line ${JSON.stringify(raw.slice(0, 60))} is not "Key : value"`);
  }
  return records;
}

/** A Format-List endpoint record → shared Endpoint (the nested objects are PowerShell's @{…} text). */
export function endpointFromFormatList(r: Record<string, string>): Endpoint {
  const id = r.ID;
  if (!id) return bad('an endpoint record without ID');
  const ns = /ID=([0-9a-fA-F-]+)/.exec(r.Namespace ?? '')?.[1] ?? '';
  return {
    name: r.Name ?? id,
    ips: r.IPAddress ? [r.IPAddress] : [],
    mac: mac(r.MacAddress),
    hostInterface: '',
    netns: ns,
    network: r.VirtualNetworkName ?? '',
  };
}

/** `hnsdiag list loadbalancers` table: ID | Virtual IPs | Direct IP IDs (endpoint IDs, resolved to IPs when known). */
export function loadBalancersFromHnsdiag(
  text: string,
  endpointIps: Map<string, string[]> = new Map(),
): Array<LoadBalancer & { id: string; endpointIds: string[] }> {
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  const header = lines.shift();
  if (!header || !/^ID\s*\|/.test(header) || header.split('|').length !== 3)
    bad(
      `a load balancer table must start with "ID | Virtual IPs | Direct IP IDs", got ` +
        `${JSON.stringify(header?.slice(0, 60) ?? '')}`,
    );
  return lines.map((l) => {
    const cols = l.split('|').map((c) => c.trim());
    if (cols.length !== 3 || !/^[0-9a-fA-F-]{36}$/.test(cols[0]!))
      bad(`load balancer row ${JSON.stringify(l.slice(0, 60))}`);
    const endpointIds = cols[2]!.split(/\s+/).filter(Boolean);
    return {
      id: cols[0]!,
      vip: cols[1]!.split(/\s+/).filter(Boolean)[0] ?? '',
      port: 0,
      protocol: '',
      source: 'hns',
      endpointIds,
      backends: endpointIds.flatMap((id) => (endpointIps.get(id.toLowerCase()) ?? []).map((ip) => ({ ip, port: 0 }))),
    };
  });
}
