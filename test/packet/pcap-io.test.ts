// pcap stream reading and pcapng writing, the writer checked by tshark as the independent reader.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapStreamReader } from '../../src/packet/pcap-reader.js';
import { PcapngEncoder } from '../../src/packet/pcapng-writer.js';
import { LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2 } from '../../src/packet/linktype.js';
import { ether, icmpEcho, ipv4, sll2, tcp } from '../helpers/packets.js';
import { sh } from '../helpers/netns.js';

const dir = mkdtempSync(join(tmpdir(), 'cnspect-pcap-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function pcapFile(
  records: Array<{ sec: number; frac: number; data: Uint8Array; orig?: number }>,
  nano: boolean,
): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(262144, 16);
  head.writeUInt32LE(1, 20);
  return Buffer.concat([
    head,
    ...records.flatMap((r) => {
      const h = Buffer.alloc(16);
      h.writeUInt32LE(r.sec, 0);
      h.writeUInt32LE(r.frac, 4);
      h.writeUInt32LE(r.data.length, 8);
      h.writeUInt32LE(r.orig ?? r.data.length, 12);
      return [h, Buffer.from(r.data)];
    }),
  ]);
}

describe('pcap stream reader', () => {
  const frames = [
    ether(0x0800, ipv4(6, '10.0.0.1', '10.0.0.2', tcp(1, 2, 2))),
    ether(0x0800, ipv4(1, '10.0.0.2', '10.0.0.1', icmpEcho(0, 1, 1))),
  ];
  it('reads records split at every possible chunk boundary, with nanosecond and microsecond magic', () => {
    for (const nano of [true, false]) {
      const file = pcapFile(
        [
          { sec: 1700000000, frac: 123, data: frames[0]!, orig: 1500 },
          { sec: 1700000001, frac: 999, data: frames[1]! },
        ],
        nano,
      );
      for (let cut = 0; cut <= file.length; cut++) {
        const reader = new PcapStreamReader();
        const got: Array<[number, number, number, number]> = [];
        for (const chunk of [file.subarray(0, cut), file.subarray(cut)])
          reader.push(chunk, (r) => got.push([r.sec, r.nsec, r.originalLength, r.caplen]));
        assert.deepEqual(
          got,
          [
            [1700000000, nano ? 123 : 123000, 1500, frames[0]!.length],
            [1700000001, nano ? 999 : 999000, frames[1]!.length, frames[1]!.length],
          ],
          `cut ${cut}`,
        );
        assert.equal(reader.pendingBytes, 0);
        assert.equal(reader.header?.linkType, 1);
      }
    }
  });

  it('refuses a stream that is not pcap', () => {
    assert.throws(() => new PcapStreamReader().push(Buffer.alloc(32, 7), () => undefined), { code: 'CNSPECT_FILE' });
  });
});

describe('pcapng writer', () => {
  it('splits 64-bit nanosecond timestamps exactly (checked against BigInt)', () => {
    for (const [sec, nsec] of [
      [0, 0],
      [1, 999_999_999],
      [1_700_000_000, 123_456_789],
      [4_294_967_295, 999_999_999],
      [2_147_483_648, 1],
    ] as const) {
      const enc = new PcapngEncoder();
      enc.addInterface({ linkType: 1, name: 'x' });
      const before = enc.buffered;
      enc.addPacket({ interfaceId: 0, sec, nsec, originalLength: 1, data: Uint8Array.of(0) });
      const block = enc.take().subarray(before);
      const ts = (BigInt(block.readUInt32LE(12)) << 32n) | BigInt(block.readUInt32LE(16));
      assert.equal(ts, BigInt(sec) * 1_000_000_000n + BigInt(nsec), `${sec}.${nsec}`);
    }
  });

  it('writes interfaces, packets, original lengths, directions and comments that tshark reads back', () => {
    const enc = new PcapngEncoder();
    const a = enc.addInterface({
      linkType: LINKTYPE_ETHERNET,
      name: 'node1/eth0',
      description: 'eth0 on node1',
      snaplen: 262144,
    });
    const b = enc.addInterface({ linkType: LINKTYPE_LINUX_SLL2, name: 'node2/any' });
    const f1 = ether(0x0800, ipv4(6, '10.0.0.1', '10.0.0.2', tcp(40000, 80, 2)));
    const f2 = sll2(0x0800, 3, 0, ipv4(1, '10.0.0.2', '10.0.0.1', icmpEcho(8, 5, 6)));
    enc.addPacket({
      interfaceId: a,
      sec: 1_700_000_000,
      nsec: 123_456_789,
      originalLength: 1514,
      data: f1.subarray(0, 53),
      direction: 2,
      comment: 'default/pod-a → default/pod-b',
    });
    enc.addPacket({
      interfaceId: b,
      sec: 1_700_000_000,
      nsec: 223_456_789,
      originalLength: f2.length,
      data: f2,
      direction: 1,
    });
    enc.addPacket({ interfaceId: a, sec: 1_700_000_001, nsec: 0, originalLength: f1.length, data: f1 });
    const file = join(dir, 'w.pcapng');
    writeFileSync(file, enc.take());
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
      'frame.interface_description',
      '-e',
      'frame.time_epoch',
      '-e',
      'frame.len',
      '-e',
      'frame.cap_len',
      '-e',
      'ip.src',
      '-e',
      'frame.comment',
      '-e',
      'frame.p2p_dir',
    ])
      .trim()
      .split('\n')
      .map((l) => l.split('|'));
    assert.equal(rows.length, 3);
    assert.deepEqual(rows[0]!.slice(0, 7), [
      'node1/eth0',
      'eth0 on node1',
      '1700000000.123456789',
      '1514',
      '53',
      '10.0.0.1',
      'default/pod-a → default/pod-b',
    ]);
    assert.deepEqual(rows[1]!.slice(0, 6), [
      'node2/any',
      '',
      '1700000000.223456789',
      String(f2.length),
      String(f2.length),
      '10.0.0.2',
    ]);
    assert.equal(rows[2]![2], '1700000001.000000000');
    const dirs = sh(['tshark', '-r', file, '-T', 'fields', '-e', 'frame.packet_flags_direction'])
      .replace(/\n$/, '')
      .split('\n');
    assert.deepEqual(
      dirs.map((d) => (d ? Number(d) : 0)),
      [2, 1, 0],
      'outbound, inbound, none',
    );
  });
});
