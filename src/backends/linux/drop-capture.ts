// `--type drop` on Linux: kfree_skb drops of this node's network namespaces (its own and its
// pods'), with reason names, tuples, namespace and interface, filtered like packets.
import { statSync } from 'node:fs';
import { CnspectError } from '../../errors.js';
import { Protocol } from '../../gen/cnspect/v1/agent.js';
import { compileTupleFilter } from '../../packet/match.js';
import { allParts, hasNoFields } from '../../packet/filter.js';
import type { CaptureHandle, CaptureSink, CaptureSpec, CapturedDrop } from '../backend.js';
import {
  type DropRecord,
  type DropSource,
  ensureTracefs,
  readDropReasons,
  startBpftrace,
  startTracefs,
} from './drops.js';
import { listLinks, NETNS_DIR, vethPeers } from './netns.js';

/** The network namespaces that belong to this node: ours, and every one behind one of our veths. */
export async function nodeNamespaces(): Promise<Map<number, string>> {
  const out = new Map<number, string>([[statSync('/proc/self/ns/net').ino, '']]);
  for (const peer of await vethPeers()) {
    try {
      out.set(statSync(`${NETNS_DIR}/${peer.netns}`).ino, peer.netns);
    } catch {
      /* removed meanwhile */
    }
  }
  return out;
}

export async function startDropCapture(
  spec: CaptureSpec,
  sink: CaptureSink,
  preferTracefs = process.env.CNSPECT_DROPS_TRACEFS === '1',
): Promise<CaptureHandle> {
  const parts = allParts(spec.filter);
  if (parts.some((f) => f.macs.length))
    throw new CnspectError(
      'CNSPECT_FILTER_UNSUPPORTED',
      'drop records carry no MAC addresses: -m cannot filter drops',
      { hint: 'filter drops by -i, -r or -t' },
    );
  if (parts.some((f) => f.protocols.some((p) => p.tcpFlags.length)))
    throw new CnspectError(
      'CNSPECT_FILTER_UNSUPPORTED',
      'drop records carry no TCP flags: TCP_<FLAG> cannot filter drops',
      { hint: 'use -t TCP' },
    );
  if (spec.netns || spec.interface !== 'any')
    throw new CnspectError(
      'CNSPECT_FILTER_UNSUPPORTED',
      '--type drop watches the whole node; --interface and --netns do not apply',
      { hint: 'filter by -i (addresses) or capture pods' },
    );
  await ensureTracefs();
  const reasons = readDropReasons();
  const skip = [...reasons].find(([, n]) => n === 'NOT_SPECIFIED')?.[0] ?? 2;
  let namespaces = await nodeNamespaces();
  let lastRefresh = Date.now();
  const matches = compileTupleFilter(spec.filter);
  const podIps = new Set(spec.pods.flatMap((p) => p.ips));
  const hasTupleFilter = !hasNoFields(spec.filter) || spec.filter.exclude.length > 0 || podIps.size > 0;
  const ifnames = new Map<string, string>();
  const ifname = async (inode: number, netns: string, ifindex: number): Promise<string> => {
    const key = `${inode}/${ifindex}`;
    if (!ifnames.has(key)) {
      try {
        for (const l of await listLinks(netns, false)) ifnames.set(`${inode}/${l.index}`, l.name);
      } catch {
        /* namespace gone */
      }
    }
    return ifnames.get(key) ?? (ifindex ? `if${ifindex}` : '');
  };
  // Drops arrive in bursts; resolve them in order without blocking the reader.
  let chain = Promise.resolve();
  const onRecords = (records: DropRecord[]): void => {
    chain = chain.then(async () => {
      if (records.some((r) => !namespaces.has(r.netnsInode)) && Date.now() - lastRefresh > 1000) {
        lastRefresh = Date.now();
        namespaces = await nodeNamespaces();
      }
      const out: CapturedDrop[] = [];
      for (const r of records) {
        const ns = namespaces.get(r.netnsInode);
        if (ns === undefined) continue; // another node's namespace (labs share one kernel)
        if (hasTupleFilter) {
          if (!r.src) continue; // no tuple: cannot tell whether it matches
          if (!matches(r)) continue;
          if (podIps.size && !podIps.has(r.src) && !podIps.has(r.dst)) continue;
        }
        out.push({
          ...r,
          reason: reasons.get(r.reasonCode) ?? `REASON_${r.reasonCode}`,
          netns: ns,
          interface: await ifname(r.netnsInode, ns, r.ifindex),
        });
      }
      if (out.length) sink.drops?.(out);
    });
  };
  // Reason-only records of the fallback: no tuple, no namespace (inode -1, admitted below).
  const onReason = (code: number): void =>
    onRecords([
      {
        timeMs: Date.now(),
        reasonCode: code,
        src: '',
        dst: '',
        ipProtocol: 0,
        srcPort: 0,
        dstPort: 0,
        netnsInode: -1,
        ifindex: 0,
        count: 1,
      },
    ]);
  let source: DropSource;
  if (preferTracefs) source = await startTracefs(skip, reasons, onReason);
  else {
    try {
      source = await startBpftrace(skip, onRecords);
    } catch (err) {
      if (!(err instanceof CnspectError && err.code === 'CNSPECT_TOOL_MISSING')) throw err;
      source = await startTracefs(skip, reasons, onReason);
    }
  }
  if (source.kind === 'tracefs') {
    // No namespace is known: the fallback reports the whole host's drops, reasons only.
    namespaces.set(-1, '');
    if (hasTupleFilter) {
      await source.stop();
      throw new CnspectError(
        'CNSPECT_FILTER_UNSUPPORTED',
        'without bpftrace, drops carry reasons only: address, port, protocol and pod filters cannot apply',
        { hint: 'install bpftrace (Debian: apt-get install bpftrace)' },
      );
    }
  }
  const protoText = spec.filter.protocols.map((p) => Protocol[p.protocol]).join(',');
  return {
    capturePoint:
      `on skb:kfree_skb drops of this node's namespaces ` +
      `(${source.kind}${source.kind === 'tracefs' ? ', reasons only' : ''})`,
    linkType: 0,
    snaplen: 0,
    filterExpression: protoText ? `drops matching ${protoText}` : '',
    interfaceName: (i) => `if${i}`,
    kernelDropped: () => 0,
    requestStats: () => undefined,
    stop: async () => {
      await source.stop();
      await chain;
    },
    ended: source.ended.then(async (r) => {
      await chain;
      return r;
    }),
  };
}
