// pktmon filters compiled from the one filter model, and pktmon's text parsed — on the real
// published outputs in shared/fixtures/windows.
import { windowsFixture } from '../helpers/windows-fixtures.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pktmonFilterArgs } from '../../src/backends/windows/pktmon-filter.js';
import {
  componentForMac,
  endpointsFromDecode,
  parseCaseTable,
  parsePktmonCounterRecords,
  parsePktmonCountersJson,
  parsePktmonHeader,
  parsePktmonList,
  parsePktmonPackets,
  pktmonTimeNs,
} from '../../src/backends/windows/pktmon-parse.js';
import { DROP_LOCATIONS, DROP_REASONS } from '../../src/backends/windows/pktmon-tables.js';
import { pktmonRecord } from '../../src/backends/windows/pktmon.js';
import { filterFromTokens } from '../../src/packet/filter.js';

const fixture = windowsFixture;

describe('pktmon filter compiler', () => {
  it('turns OR within a field into one filter per combination, AND inside each', () => {
    assert.deepEqual(
      pktmonFilterArgs(
        filterFromTokens({ ips: ['10.0.0.1', '10.0.0.0/24'], protocols: ['TCP_SYN', 'udp'], ports: ['53'] }),
      ),
      [
        ['filter', 'add', 'cnspect1', '-i', '10.0.0.1', '-p', '53', '-t', 'TCP', 'SYN'],
        ['filter', 'add', 'cnspect2', '-i', '10.0.0.1', '-p', '53', '-t', 'UDP'],
        ['filter', 'add', 'cnspect3', '-i', '10.0.0.0/24', '-p', '53', '-t', 'TCP', 'SYN'],
        ['filter', 'add', 'cnspect4', '-i', '10.0.0.0/24', '-p', '53', '-t', 'UDP'],
      ],
    );
    assert.deepEqual(pktmonFilterArgs(filterFromTokens({ macs: ['aa:bb:cc:dd:ee:ff'], protocols: ['ICMPv6'] })), [
      ['filter', 'add', 'cnspect1', '-m', 'AA-BB-CC-DD-EE-FF', '-t', 'ICMPv6'],
    ]);
    assert.deepEqual(pktmonFilterArgs(filterFromTokens({})), []);
    // Several flags of one protocol follow it as pktmon's flag list (docs/windows.md).
    assert.deepEqual(pktmonFilterArgs(filterFromTokens({ protocols: ['TCP_SYN_ACK'] })), [
      ['filter', 'add', 'cnspect1', '-t', 'TCP', 'SYN', 'ACK'],
    ]);
  });

  it('allows exactly 8 combinations (2 x 2 x 2) and refuses 9', () => {
    const eight = pktmonFilterArgs(
      filterFromTokens({ ips: ['10.0.0.1', '10.0.0.2'], ports: ['53', '80'], protocols: ['TCP', 'UDP'] }),
    );
    assert.equal(eight.length, 8);
    assert.deepEqual(
      eight.map((a) => a[2]),
      ['cnspect1', 'cnspect2', 'cnspect3', 'cnspect4', 'cnspect5', 'cnspect6', 'cnspect7', 'cnspect8'],
    );
    assert.equal(new Set(eight.map((a) => a.slice(3).join(' '))).size, 8, 'each combination once');
    assert.deepEqual(eight[7], ['filter', 'add', 'cnspect8', '-i', '10.0.0.2', '-p', '80', '-t', 'UDP']);
    assert.equal(pktmonFilterArgs(filterFromTokens({ ports: ['1', '2', '3', '4', '5', '6', '7', '8'] })).length, 8);
    assert.throws(
      () => pktmonFilterArgs(filterFromTokens({ ports: ['1', '2', '3', '4', '5', '6', '7', '8', '9'] })),
      (err: Error & { code?: string }) =>
        err.code === 'CNSPECT_FILTER_UNSUPPORTED' && /combination \(9 = 9\), and pktmon allows 8/.test(err.message),
    );
  });

  it('refuses, before anything starts, what pktmon cannot say', () => {
    assert.throws(
      () => pktmonFilterArgs(filterFromTokens({ ips: ['10.0.0.1', '10.0.0.2', '10.0.0.3'], ports: ['1', '2', '3'] })),
      (err: Error & { code?: string }) =>
        err.code === 'CNSPECT_FILTER_UNSUPPORTED' && /3 x 3 = 9/.test(err.message) && /allows 8/.test(err.message),
    );
    assert.throws(
      () => pktmonFilterArgs(filterFromTokens({ ports: ['8000-8080'] })),
      (err: Error & { code?: string }) =>
        err.code === 'CNSPECT_FILTER_UNSUPPORTED' && /port range 8000-8080/.test(err.message),
    );
    assert.throws(
      () => pktmonFilterArgs(filterFromTokens({ protocols: ['TCP'], not: [{ field: 'ports', value: '22' }] })),
      (err: Error & { code?: string }) =>
        err.code === 'CNSPECT_FILTER_UNSUPPORTED' && /pktmon cannot express a negation \(--not\)/.test(err.message),
    );
  });
});

describe('pktmon text parsers (real outputs)', () => {
  it('reads real-time packet lines with their decode line', () => {
    const packets = parsePktmonPackets(fixture('pktmon-realtime/rosesecurity-etw-realtime-tcp-syn.txt'));
    assert.deepEqual(
      packets.map((x) => [x.appearance, x.component, x.direction, x.originalSize]),
      [
        [1, 78, 'Tx', 66],
        [2, 31, 'Tx', 66],
        [3, 32, 'Tx', 66],
        [4, 33, 'Tx', 66],
        [1, 33, 'Rx', 66],
      ],
    );
    const p = packets[0]!;
    assert.deepEqual(
      { ...p, decode: undefined },
      {
        time: '23:02:26.539704700',
        pktGroupId: '562949953421500',
        pktNumber: 1,
        appearance: 1,
        direction: 'Tx',
        type: 'Ethernet',
        component: 78,
        edge: 1,
        filter: 1,
        originalSize: 66,
        loggedSize: 66,
        decode: undefined,
      },
    );
    assert.match(
      p.decode!,
      new RegExp(
        String.raw`^40-EC-99-B9-17-25 > F0-B4-D2-5A-D3-E2, ethertype IPv4 \(0x0800\), length 66: ` +
          String.raw`192\.168\.0\.62\.65066 > 172\.217\.2\.115\.443: Flags \[S\]`,
      ),
    );
    assert.deepEqual(
      packets.slice(0, 3).map((x) => [x.appearance, x.component]),
      [
        [1, 78],
        [2, 31],
        [3, 32],
      ],
    );
  });

  it('reads etl2txt packet lines (with their event prefix) and skips component lines', () => {
    const dns = parsePktmonPackets(fixture('pktmon-etl2txt/msdocs-container-dns-etl2txt-packet.txt'));
    assert.equal(dns.length, 1);
    assert.deepEqual(
      [dns[0]!.time, dns[0]!.pktGroupId, dns[0]!.component, dns[0]!.filter, dns[0]!.originalSize],
      ['2024-03-20 14:13:45.720095500', '281474976710677', 6, 2, 80],
    );
    assert.match(dns[0]!.decode!, /10\.127\.130\.152\.59312 > 8\.8\.8\.8\.53: 1\+ PTR\?/);
    const wifi = parsePktmonPackets(fixture('pktmon-etl2txt/logparser-wifi-etl2txt-packet.txt'));
    assert.deepEqual(
      [wifi[0]!.direction, wifi[0]!.type, wifi[0]!.originalSize, wifi[0]!.loggedSize],
      ['Rx', 'WiFi', 284, 128],
    );
    const header = parsePktmonPackets(fixture('pktmon-etl2txt/wc439-header-and-first-packet.txt'));
    assert.deepEqual(
      header.map((x) => x.component),
      [57],
    );
    assert.deepEqual(parsePktmonPackets(fixture('pktmon-etl2txt/wc439-components-135-134-vmswitch.txt')), []);
  });

  it('tolerates localised labels (reads by position after PktGroupId) and refuses a cut header', () => {
    const de =
      '23:02:26.539704700 PktGroupId 5, PaketNummer 1, Auftreten 2, Richtung Rx , Typ Ethernet , Komponente ' +
      '31, Kante 1, Filter 1, Originalgröße 66, Protokollierte Größe 60';
    assert.deepEqual(
      [parsePktmonHeader(de)!.appearance, parsePktmonHeader(de)!.component, parsePktmonHeader(de)!.loggedSize],
      [2, 31, 60],
    );
    assert.throws(() => parsePktmonHeader('23:02:26.539704700 PktGroupId 5, PktNumber 1, Appearance'), {
      code: 'CNSPECT_TOOL_FAILED',
    });
    assert.equal(parsePktmonHeader('Active measurement started.'), undefined);
  });

  it('reads `pktmon list` and finds a component by MAC', () => {
    const list = parsePktmonList(fixture('pktmon-list/msquic-tsg-pktmon-list-network-adapters.txt'));
    assert.deepEqual(list, [
      { id: 9, mac: '40-8D-5C-B5-46-51', name: 'Intel(R) Ethernet Connection (2) I219-V #2' },
      { id: 104, mac: '00-15-5D-D1-5A-30', name: '433db3ea-0acd-457a-9c86-55bb7fa27391' },
      { id: 80, mac: '00-15-5D-AD-8B-40', name: '433db3ea-0acd-457a-9c86-55bb7fa27391' },
    ]);
    assert.equal(componentForMac(list, '00:15:5d:ad:8b:40')?.id, 80);
    assert.throws(() => parsePktmonList('Error: access denied'), { code: 'CNSPECT_TOOL_FAILED' });
  });

  it('maps drop reason codes through the documented table', () => {
    const reasons = parseCaseTable(fixture('pktmon-drop-reasons/netmon-parser-pktmon-dropreason-table.txt'));
    assert.equal(reasons.get(0), 'Unspecified');
    assert.equal(reasons.get(12), 'Failed security policy');
    assert.equal(reasons.get(23), 'MTU mismatch');
    assert.throws(() => parseCaseTable('nothing here'), { code: 'CNSPECT_TOOL_FAILED' });
  });

  it(
    'reads a drop header in the documented field order (DropReason, DropLocation before the sizes) and ' +
      'maps both codes',
    () => {
      // pktmon.sys message 0xb00000aa ("Drop: PktGroupId %1, … Filter %8, DropReason %9, DropLocation %10,
      // OriginalSize %11, LoggedSize %12")
      // filled with the values of the first recorded real-time packet.
      const line =
        '23:02:26.539704700 Drop: PktGroupId 562949953421500, PktNumber 1, Appearance 1, Direction Tx , Type ' +
        'Ethernet , Component 78, Edge 1, Filter 1, DropReason 12, DropLocation 0xE0002001, OriginalSize ' +
        '66, LoggedSize 66';
      const p = parsePktmonHeader(line)!;
      assert.deepEqual(
        [p.component, p.filter, p.dropReason, p.dropLocation, p.originalSize, p.loggedSize],
        [78, 1, 12, 0xe0002001, 66, 66],
      );
      p.decode = parsePktmonPackets(fixture('pktmon-realtime/rosesecurity-etw-realtime-tcp-syn.txt'))[0]!.decode;
      const { drop } = pktmonRecord(p, new Date(2024, 3, 2, 23, 3).getTime());
      assert.deepEqual(
        { ...drop!, timeMs: 0 },
        {
          timeMs: 0,
          reason: 'FailedSecurityPolicy',
          reasonCode: 12,
          src: '192.168.0.62',
          dst: '172.217.2.115',
          ipProtocol: 6,
          srcPort: 65066,
          dstPort: 443,
          netnsInode: 0,
          netns: '',
          interface: '78',
          count: 1,
          location: 'VMS_EXT_FILTER_DEST_PROC1',
        },
      );
      // A reason printed as text (a value map) is kept as the words.
      assert.equal(parsePktmonHeader(line.replace('DropReason 12', 'DropReason IPSec drop'))!.dropReason, 'IPSec drop');
    },
  );

  it('reads addresses out of decode lines (IPv4 with ports, DNS, none)', () => {
    assert.deepEqual(
      endpointsFromDecode(
        parsePktmonPackets(fixture('pktmon-etl2txt/msdocs-container-dns-etl2txt-packet.txt'))[0]!.decode!,
      ),
      { src: '10.127.130.152', dst: '8.8.8.8', srcPort: 59312, dstPort: 53, ipProtocol: 17 },
    );
    assert.equal(
      endpointsFromDecode(parsePktmonPackets(fixture('pktmon-etl2txt/logparser-wifi-etl2txt-packet.txt'))[0]!.decode!),
      undefined,
    );
  });

  it('dates a real-time time of day nearest to now (across midnight too); etl2txt times carry their date', () => {
    const at = (h: number, m: number, d = 2): number => new Date(2024, 3, d, h, m).getTime();
    assert.equal(
      pktmonTimeNs('23:02:26.539704700', at(23, 3)),
      BigInt(new Date(2024, 3, 2, 23, 2, 26).getTime()) * 1_000_000n + 539_704_700n,
    );
    assert.equal(
      pktmonTimeNs('23:59:59.5', at(0, 0, 3)),
      BigInt(new Date(2024, 3, 2, 23, 59, 59).getTime()) * 1_000_000n + 500_000_000n,
    );
    assert.equal(
      pktmonTimeNs('2024-03-20 14:13:45.720095500', at(1, 0)),
      BigInt(new Date(2024, 2, 20, 14, 13, 45).getTime()) * 1_000_000n + 720_095_500n,
    );
    assert.throws(() => pktmonTimeNs('yesterday', 0), { code: 'CNSPECT_TOOL_FAILED' });
  });

  it('reads per-component counters from the records pktmon writes at the end of a log', () => {
    const vms = parsePktmonCounterRecords(fixture('pktmon-etl2txt/wc439-components-135-134-vmswitch.txt'));
    const c135 = vms.find((c) => c.id === 135)!;
    assert.equal(c135.mac, '00-15-5D-3A-AA-31');
    assert.deepEqual(c135.drop, { inPackets: 0, inBytes: 0, outPackets: 0, outBytes: 0 });
    const c134 = vms.find((c) => c.id === 134)!;
    assert.deepEqual(
      [c134.type, c134.name, c134.description, c134.mac],
      ['VmsMiniport', 'vmswitch.sys', 'cbr0_ep', '00-15-5D-C5-E2-88'],
    );
    const tcpip = parsePktmonCounterRecords(fixture('pktmon-etl2txt/wc439-components-78-77-tcpip6.txt'));
    assert.deepEqual(tcpip.find((c) => c.id === 77)!.name, 'tcpip.sys');
    assert.deepEqual(tcpip.find((c) => c.id === 78)!.flow, { inPackets: 0, inBytes: 0, outPackets: 0, outBytes: 0 });
    const nic = parsePktmonCounterRecords(fixture('pktmon-etl2txt/msdocs-container-dns-etl2txt-component-6.txt'));
    assert.deepEqual(
      [nic[0]!.id, nic[0]!.name, nic[0]!.description, nic[0]!.mac],
      [6, 'netvsc.sys', 'Microsoft Hyper-V Network Adapter #2', '00-15-5D-C8-8E-16'],
    );
    assert.throws(
      () => parsePktmonCounterRecords('[x] Drop Counters: Component 5, Direction In = Rx , Packets In 0'),
      /drop counter record/,
    );
  });

  it('reads `pktmon counters --json` in the shape its public consumers rely on, and refuses anything else', () => {
    // No recorded output is public: the shape is the one scripts that read it use (Group → Components → Counters).
    const c = parsePktmonCountersJson(
      JSON.stringify([
        {
          Group: 'Ethernet 2',
          Components: [
            {
              Id: 9,
              Name: 'Ethernet 2',
              Counters: [
                { Type: 'Flow', Inbound: { Packets: 3, Bytes: 300 }, Outbound: { Packets: 2, Bytes: 120 } },
                { Type: 'Drop', Inbound: { Packets: 1, Bytes: 60 } },
              ],
            },
          ],
        },
      ]),
    );
    assert.deepEqual(c, [
      {
        id: 9,
        name: 'Ethernet 2',
        description: 'Ethernet 2',
        type: '',
        mac: '',
        flow: { inPackets: 3, inBytes: 300, outPackets: 2, outBytes: 120 },
        drop: { inPackets: 1, inBytes: 60, outPackets: 0, outBytes: 0 },
      },
    ]);
    assert.throws(
      () => parsePktmonCountersJson(fixture('pktmon-list/msquic-tsg-pktmon-list-network-adapters.txt')),
      /counters JSON/,
    );
    assert.throws(() => parsePktmonCountersJson('[{"Group":"x"}]'), /without "Components"/);
    assert.throws(
      () => parsePktmonCountersJson('[{"Components":[{"Name":"a","Counters":[{"Inbound":{"Packets":-1}}]}]}]'),
      /Inbound.Packets is not a count/,
    );
  });

  it('carries the documented drop tables unchanged (generated from them)', () => {
    const reasons = parseCaseTable(fixture('pktmon-drop-reasons/netmon-parser-pktmon-dropreason-table.txt'));
    for (const [code, text] of reasons) assert.equal(DROP_REASONS.get(code)?.[1], text, `reason ${code}`);
    const enumText = fixture('pktmon-drop-reasons/msdocs-win32-pktmon-drop-reason-enum.txt');
    const names = [...enumText.matchAll(/^\s*PktMonDrop_(\w+)\s*=\s*(\d+)/gm)];
    for (const m of names) assert.equal(DROP_REASONS.get(Number(m[2]))?.[0], m[1]);
    assert.equal(DROP_REASONS.size, new Set([...names.map((m) => Number(m[2])), ...reasons.keys()]).size);
    const locations = [
      ...fixture('pktmon-drop-reasons/msdocs-win32-pktmon-drop-location-enum.txt').matchAll(
        /^\s*PMLOC_(\w+)\s*=\s*(0x[0-9A-Fa-f]+)/gm,
      ),
    ];
    assert.equal(DROP_LOCATIONS.size, locations.length);
    for (const m of locations) assert.equal(DROP_LOCATIONS.get(Number(m[2])), m[1]);
  });
});
