import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode, Dir, L3 } from '../../src/packet/decode.js';
import { summarize } from '../../src/packet/describe.js';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_RAW,
  LINKTYPE_NULL,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
} from '../../src/packet/linktype.js';
import { arpRequest, ether, icmpEcho, ipv4, ipv6, sll, sll2, tcp, udp } from '../helpers/packets.js';

const SAMPLES: Array<[string, number, Uint8Array]> = [
  ['ethernet tcp syn', LINKTYPE_ETHERNET, ether(0x0800, ipv4(6, '10.0.0.1', '10.0.0.2', tcp(40000, 80, 0x02)))],
  ['vlan udp', LINKTYPE_ETHERNET, ether(0x0800, ipv4(17, '10.0.0.1', '10.0.0.2', udp(5353, 53, 12)), 42)],
  ['ipv6 hop-by-hop + udp', LINKTYPE_ETHERNET, ether(0x86dd, ipv6(17, udp(1000, 2000, 4), [17, 0, 1, 4, 0, 0, 0, 0]))],
  ['ipv6 icmpv6 echo', LINKTYPE_ETHERNET, ether(0x86dd, ipv6(58, icmpEcho(128, 7, 3)))],
  ['arp', LINKTYPE_ETHERNET, ether(0x0806, arpRequest('10.0.0.1', '10.0.0.2'))],
  ['sll2 icmp out', LINKTYPE_LINUX_SLL2, sll2(0x0800, 5, 4, ipv4(1, '10.0.0.1', '10.0.0.2', icmpEcho(8, 1, 9)))],
  ['sll tcp in', LINKTYPE_LINUX_SLL, sll(0x0800, 0, ipv4(6, '10.0.0.2', '10.0.0.1', tcp(80, 40000, 0x12, 10)))],
  ['raw ipv4', LINKTYPE_RAW, Uint8Array.from(ipv4(17, '1.2.3.4', '5.6.7.8', udp(1, 2)))],
];

describe('packet decoder', () => {
  it('decodes Ethernet, IPv4 and a TCP SYN', () => {
    const buf = SAMPLES[0]![2];
    const d = decode(LINKTYPE_ETHERNET, buf);
    assert.equal(d.l3, L3.IPv4);
    assert.equal(d.l4Proto, 6);
    assert.equal(d.srcPort, 40000);
    assert.equal(d.dstPort, 80);
    assert.equal(d.tcpFlags, 0x02);
    assert.equal(d.truncated, false);
    const s = summarize(d, buf);
    assert.deepEqual(
      [s.src, s.dst, s.protocol, s.info],
      ['10.0.0.1', '10.0.0.2', 'TCP', 'Flags [S], seq 1000, win 65535, length 0'],
    );
  });

  it('walks VLAN tags and IPv6 extension headers', () => {
    const v = decode(LINKTYPE_ETHERNET, SAMPLES[1]![2]);
    assert.deepEqual(v.vlanIds, [42]);
    assert.equal(v.dstPort, 53);
    assert.equal(v.payloadLength, 12);
    const buf = SAMPLES[2]![2];
    const six = decode(LINKTYPE_ETHERNET, buf);
    assert.equal(six.l3, L3.IPv6);
    assert.equal(six.l4Proto, 17);
    assert.equal(six.dstPort, 2000);
    assert.equal(six.payloadLength, 4);
    assert.equal(summarize(six, buf).src, 'fd00::1');
  });

  it('decodes ICMPv6 echo, ARP, SLL and SLL2 with direction and ifindex', () => {
    const icmp6 = decode(LINKTYPE_ETHERNET, SAMPLES[3]![2]);
    assert.deepEqual([icmp6.icmpType, icmp6.icmpId, icmp6.icmpSeq], [128, 7, 3]);
    assert.equal(summarize(icmp6, SAMPLES[3]![2]).info, 'echo request, id 7, seq 3');
    const arpBuf = SAMPLES[4]![2];
    const arp = decode(LINKTYPE_ETHERNET, arpBuf);
    assert.equal(arp.l3, L3.ARP);
    assert.equal(summarize(arp, arpBuf).info, 'Request who-has 10.0.0.2 tell 10.0.0.1');
    const s2 = decode(LINKTYPE_LINUX_SLL2, SAMPLES[5]![2]);
    assert.deepEqual([s2.ifindex, s2.direction, s2.icmpType, s2.icmpSeq], [5, Dir.Out, 8, 9]);
    const s1 = decode(LINKTYPE_LINUX_SLL, SAMPLES[6]![2]);
    assert.deepEqual([s1.direction, s1.srcPort, s1.tcpFlags, s1.payloadLength], [Dir.In, 80, 0x12, 10]);
    assert.equal(decode(LINKTYPE_RAW, SAMPLES[7]![2]).dstPort, 2);
  });

  it('marks truncated packets and keeps what it could read', () => {
    const full = SAMPLES[0]![2];
    const d = decode(LINKTYPE_ETHERNET, full.subarray(0, 14 + 20 + 4));
    assert.equal(d.truncated, true);
    assert.equal(d.l3, L3.IPv4);
    assert.equal(d.srcPort, 40000);
    assert.equal(d.tcpFlags, -1);
    assert.match(summarize(d, full.subarray(0, 38)).info, /truncated/);
  });

  it('never throws on any prefix of a valid packet', () => {
    for (const [name, lt, buf] of SAMPLES) {
      for (let n = 0; n <= buf.length; n++) {
        assert.doesNotThrow(() => {
          const d = decode(lt, buf.subarray(0, n));
          summarize(d, buf.subarray(0, n));
        }, `${name} cut at ${n}`);
      }
    }
  });

  it('never throws on random bytes of any link type (property, time-bounded)', () => {
    const linkTypes = [
      LINKTYPE_ETHERNET,
      LINKTYPE_LINUX_SLL,
      LINKTYPE_LINUX_SLL2,
      LINKTYPE_RAW,
      LINKTYPE_NULL,
      LINKTYPE_IPV4,
      LINKTYPE_IPV6,
      9999,
    ];
    fc.assert(
      fc.property(fc.constantFrom(...linkTypes), fc.uint8Array({ maxLength: 200 }), (lt, bytes) => {
        const d = decode(lt, bytes);
        summarize(d, bytes);
        // Offsets it reports complete must lie inside the bytes it was given.
        return d.truncated || (d.l4Offset <= bytes.length && d.srcIpOffset <= bytes.length);
      }),
      { numRuns: 20000, interruptAfterTimeLimit: 10_000 },
    );
    // Mutations of real headers reach deeper code than purely random bytes.
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: SAMPLES.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        (i, edits) => {
          const [, lt, buf] = SAMPLES[i]!;
          const copy = Uint8Array.from(buf);
          for (const [pos, val] of edits) copy[pos % copy.length] = val;
          summarize(decode(lt, copy), copy);
          return true;
        },
      ),
      { numRuns: 20000, interruptAfterTimeLimit: 10_000 },
    );
  });
});
