// The filter model compiled to libpcap expressions: exact strings, and each one accepted by the
// real tcpdump compiler on both link types it meets (Ethernet and LINUX_SLL2).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileBpf } from '../../src/backends/linux/bpf.js';
import { parseTcpdumpStats, tcpdumpArgs } from '../../src/backends/linux/tcpdump.js';
import { parseIpLinkJson } from '../../src/backends/linux/netns.js';
import { filterFromTokens, type FilterTokens, validateFilter } from '../../src/packet/filter.js';
import { pktmonFilterArgs } from '../../src/backends/windows/pktmon-filter.js';
import { sh } from '../helpers/netns.js';

const CASES: Array<[FilterTokens, string]> = [
  [{}, ''],
  [{ ips: ['10.0.0.1'] }, 'host 10.0.0.1'],
  [{ ips: ['10.0.0.0/8', 'fd00::1'] }, '(net 10.0.0.0/8 or host fd00::1)'],
  [{ ports: ['53', '8000-8080'] }, '(port 53 or portrange 8000-8080)'],
  [{ protocols: ['TCP', 'udp', 'ICMPv6'] }, '(tcp or udp or icmp6)'],
  [
    { protocols: ['TCP_SYN'] },
    '((ip and tcp and tcp[13] & 0x02 = 0x02) or (ip6 and ip6[6] = 6 and ip6[53] & 0x02 = 0x02))',
  ],
  [
    { ips: ['10.1.2.3'], ports: ['443'], protocols: ['TCP_SYN_ACK', 'ICMP'] },
    'host 10.1.2.3 and port 443 and (((ip and tcp and tcp[13] & 0x12 = 0x12) or (ip6 and ip6[6] = 6 and ' +
      'ip6[53] & 0x12 = 0x12)) or icmp)',
  ],
];

describe('BPF compiler', () => {
  for (const [tokens, expected] of CASES) {
    it(`compiles ${JSON.stringify(tokens)} and tcpdump accepts it`, () => {
      const bpf = compileBpf(filterFromTokens(tokens), { anyInterface: true });
      assert.equal(bpf, expected);
      if (bpf) {
        sh(['tcpdump', '-i', 'any', '-d', bpf]);
        sh(['tcpdump', '-i', 'lo', '-d', bpf]);
      }
    });
  }

  it("compiles each exclusion as `and not (…)` and the agent's own connection last; tcpdump accepts it", () => {
    const f = filterFromTokens({
      protocols: ['TCP'],
      not: [
        { field: 'ports', value: '22' },
        { field: 'ips', value: '10.0.0.0/8,fd00::1' },
      ],
    });
    const bpf = compileBpf(f, {
      anyInterface: true,
      self: { peerIp: '198.18.0.1', peerPort: 41234, agentPort: 50051 },
    });
    assert.equal(
      bpf,
      'tcp and not (port 22) and not ((net 10.0.0.0/8 or host fd00::1)) and not (tcp and host 198.18.0.1 ' +
        'and port 41234 and port 50051)',
    );
    sh(['tcpdump', '-i', 'any', '-d', bpf]);
    assert.equal(
      compileBpf(filterFromTokens({ not: [{ field: 'protocols', value: 'UDP' }] }), { anyInterface: true }),
      'not (udp)',
    );
    assert.throws(
      () =>
        compileBpf(filterFromTokens({ not: [{ field: 'macs', value: 'aa:bb:cc:dd:ee:ff' }] }), { anyInterface: true }),
      { code: 'CNSPECT_FILTER_UNSUPPORTED' },
    );
  });

  it('the agent refuses exclusions it could not compile faithfully', () => {
    const none = { cidrs: [], macs: [], ports: [], protocols: [], exclude: [] };
    assert.throws(
      () => validateFilter({ ...none, exclude: [none] }),
      /an empty exclusion would leave out every packet/,
    );
    assert.throws(
      () =>
        validateFilter({
          ...none,
          exclude: [
            { ...none, ports: [{ first: 1, last: 1 }], exclude: [{ ...none, ports: [{ first: 2, last: 2 }] }] },
          ],
        }),
      /one level/,
    );
    assert.throws(
      () =>
        validateFilter({
          ...none,
          exclude: Array.from({ length: 17 }, () => ({ ...none, ports: [{ first: 1, last: 1 }] })),
        }),
      /17 exclusions; allowed: at most 16/,
    );
    assert.throws(() => pktmonFilterArgs({ ...none, exclude: [{ ...none, ports: [{ first: 22, last: 22 }] }] }), {
      code: 'CNSPECT_FILTER_UNSUPPORTED',
      message: /pktmon cannot express a negation/,
    });
  });

  it('compiles MACs for one Ethernet interface and refuses them on "any"', () => {
    const f = filterFromTokens({ macs: ['aa:bb:cc:dd:ee:ff', '11-22-33-44-55-66'] });
    const bpf = compileBpf(f, { anyInterface: false });
    assert.equal(bpf, '(ether host aa:bb:cc:dd:ee:ff or ether host 11:22:33:44:55:66)');
    sh(['tcpdump', '-i', 'lo', '-d', bpf]);
    assert.throws(() => compileBpf(f, { anyInterface: true }), { code: 'CNSPECT_FILTER_UNSUPPORTED' });
  });
});

describe('tcpdump command line and output', () => {
  it('builds argv with the measured flags and the filter as the single last element', () => {
    assert.deepEqual(
      tcpdumpArgs({ netnsPath: '/run/netns/x', iface: 'any', snaplen: 262144, bpf: 'host 10.0.0.1 and port 53' }),
      [
        'nsenter',
        '--net=/run/netns/x',
        '--',
        'tcpdump',
        '--immediate-mode',
        '-U',
        '-B',
        '16384',
        '--time-stamp-precision',
        'nano',
        '-n',
        '-Z',
        'root',
        '-s',
        '262144',
        '-i',
        'any',
        '-w',
        '-',
        'host 10.0.0.1 and port 53',
      ],
    );
    assert.deepEqual(tcpdumpArgs({ iface: 'eth0', snaplen: 128, bpf: '' }).slice(-5), ['128', '-i', 'eth0', '-w', '-']);
  });

  it('reads the last statistics block tcpdump printed', () => {
    const stderr =
      'listening on any\n5 packets captured\n6 packets received by filter\n0 packets dropped by kernel\n' +
      '1000 packets captured\n1200 packets received by filter\n17 packets dropped by kernel\n';
    assert.deepEqual(parseTcpdumpStats(stderr), { captured: 1000, receivedByFilter: 1200, droppedByKernel: 17 });
    assert.equal(parseTcpdumpStats('listening on any'), undefined);
  });

  it('parses `ip -j link show` from this machine and refuses other shapes', () => {
    const links = parseIpLinkJson(sh(['ip', '-j', 'link', 'show']));
    const lo = links.find((l) => l.name === 'lo');
    assert.deepEqual(lo, {
      index: 1,
      name: 'lo',
      mac: '00:00:00:00:00:00',
      linkType: 'loopback',
      up: true,
      peerIndex: undefined,
      peerNsid: undefined,
      addresses: [],
      cidrs: [],
      kind: '',
      master: undefined,
    });
    assert.throws(() => parseIpLinkJson('not json'), { code: 'CNSPECT_TOOL_FAILED' });
    assert.throws(() => parseIpLinkJson('[{"ifname":"x"}]'), { code: 'CNSPECT_TOOL_FAILED' });
  });
});
