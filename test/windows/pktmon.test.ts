// pktmon filters compiled from the one filter model, and pktmon's text parsed — on the real
// published outputs in shared/fixtures/windows.
import { windowsFixture } from '../helpers/windows-fixtures.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pktmonFilterArgs } from '../../src/backends/windows/pktmon-filter.js';
import { componentForMac, parseCaseTable, parsePktmonHeader, parsePktmonList, parsePktmonPackets } from '../../src/backends/windows/pktmon-parse.js';
import { filterFromTokens } from '../../src/packet/filter.js';

const fixture = windowsFixture;

describe('pktmon filter compiler', () => {
  it('turns OR within a field into one filter per combination, AND inside each', () => {
    assert.deepEqual(pktmonFilterArgs(filterFromTokens({ ips: ['10.0.0.1', '10.0.0.0/24'], protocols: ['TCP_SYN', 'udp'], ports: ['53'] })), [
      ['filter', 'add', 'cnspect1', '-i', '10.0.0.1', '-p', '53', '-t', 'TCP', 'SYN'],
      ['filter', 'add', 'cnspect2', '-i', '10.0.0.1', '-p', '53', '-t', 'UDP'],
      ['filter', 'add', 'cnspect3', '-i', '10.0.0.0/24', '-p', '53', '-t', 'TCP', 'SYN'],
      ['filter', 'add', 'cnspect4', '-i', '10.0.0.0/24', '-p', '53', '-t', 'UDP'],
    ]);
    assert.deepEqual(pktmonFilterArgs(filterFromTokens({ macs: ['aa:bb:cc:dd:ee:ff'], protocols: ['ICMPv6'] })), [['filter', 'add', 'cnspect1', '-m', 'AA-BB-CC-DD-EE-FF', '-t', 'ICMPv6']]);
    assert.deepEqual(pktmonFilterArgs(filterFromTokens({})), []);
  });

  it('refuses, before anything starts, what pktmon cannot say', () => {
    assert.throws(() => pktmonFilterArgs(filterFromTokens({ ips: ['10.0.0.1', '10.0.0.2', '10.0.0.3'], ports: ['1', '2', '3'] })), (err: Error & { code?: string }) =>
      err.code === 'CNSPECT_FILTER_UNSUPPORTED' && /3 x 3 = 9/.test(err.message) && /allows 8/.test(err.message));
    assert.throws(() => pktmonFilterArgs(filterFromTokens({ ports: ['8000-8080'] })), /port range 8000-8080/);
  });
});

describe('pktmon text parsers (real outputs)', () => {
  it('reads real-time packet lines with their decode line', () => {
    const packets = parsePktmonPackets(fixture('pktmon-realtime/rosesecurity-etw-realtime-tcp-syn.txt'));
    assert.ok(packets.length >= 3);
    const p = packets[0]!;
    assert.deepEqual({ ...p, decode: undefined }, { time: '23:02:26.539704700', pktGroupId: '562949953421500', pktNumber: 1, appearance: 1, direction: 'Tx', type: 'Ethernet',
      component: 78, edge: 1, filter: 1, originalSize: 66, loggedSize: 66, decode: undefined });
    assert.match(p.decode!, /^40-EC-99-B9-17-25 > F0-B4-D2-5A-D3-E2, ethertype IPv4 \(0x0800\), length 66: 192\.168\.0\.62\.65066 > 172\.217\.2\.115\.443: Flags \[S\]/);
    assert.deepEqual(packets.slice(0, 3).map((x) => [x.appearance, x.component]), [[1, 78], [2, 31], [3, 32]]);
  });

  it('reads etl2txt packet lines (with their event prefix) and skips component lines', () => {
    const dns = parsePktmonPackets(fixture('pktmon-etl2txt/msdocs-container-dns-etl2txt-packet.txt'));
    assert.equal(dns.length, 1);
    assert.deepEqual([dns[0]!.time, dns[0]!.pktGroupId, dns[0]!.component, dns[0]!.filter, dns[0]!.originalSize], ['2024-03-20 14:13:45.720095500', '281474976710677', 6, 2, 80]);
    assert.match(dns[0]!.decode!, /10\.127\.130\.152\.59312 > 8\.8\.8\.8\.53: 1\+ PTR\?/);
    const wifi = parsePktmonPackets(fixture('pktmon-etl2txt/logparser-wifi-etl2txt-packet.txt'));
    assert.deepEqual([wifi[0]!.direction, wifi[0]!.type, wifi[0]!.originalSize, wifi[0]!.loggedSize], ['Rx', 'WiFi', 284, 128]);
    const header = parsePktmonPackets(fixture('pktmon-etl2txt/wc439-header-and-first-packet.txt'));
    assert.deepEqual(header.map((x) => x.component), [57]);
    assert.deepEqual(parsePktmonPackets(fixture('pktmon-etl2txt/wc439-components-135-134-vmswitch.txt')), []);
  });

  it('tolerates localised labels (reads by position after PktGroupId) and refuses a cut header', () => {
    const de = '23:02:26.539704700 PktGroupId 5, PaketNummer 1, Auftreten 2, Richtung Rx , Typ Ethernet , Komponente 31, Kante 1, Filter 1, Originalgröße 66, Protokollierte Größe 60';
    assert.deepEqual([parsePktmonHeader(de)!.appearance, parsePktmonHeader(de)!.component, parsePktmonHeader(de)!.loggedSize], [2, 31, 60]);
    assert.throws(() => parsePktmonHeader('23:02:26.539704700 PktGroupId 5, PktNumber 1, Appearance'), { code: 'CNSPECT_TOOL_FAILED' });
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
});
