// Packet pipeline benchmark: pcap stream → decode → filter → pcapng, on a generated 1M-packet
// pcap, against `tcpdump -r FILE -w /dev/null` on the same file in the same run.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync, writeFileSync, mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapStreamReader } from '../src/packet/pcap-reader.js';
import { decode, newDecoded } from '../src/packet/decode.js';
import { compileFilter } from '../src/packet/match.js';
import { filterFromTokens } from '../src/packet/filter.js';
import { PcapngEncoder, type PcapngPacket } from '../src/packet/pcapng-writer.js';

export const PACKETS = Number(process.env.BENCH_PACKETS ?? 1_000_000);

/** A pcap (nanosecond) of `count` Ethernet frames cycling TCP, UDP and ICMP between 16 hosts. */
export function generatePcap(path: string, count: number): void {
  const fd = openSync(path, 'w');
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b23c4d, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(262144, 16);
  head.writeUInt32LE(1, 20);
  writeSync(fd, head);
  const frameLen = 14 + 20 + 20 + 40;
  const rec = 16 + frameLen;
  const chunkPackets = 8192;
  const buf = Buffer.alloc(rec * chunkPackets);
  for (let done = 0; done < count; ) {
    const n = Math.min(chunkPackets, count - done);
    for (let i = 0; i < n; i++) {
      const k = done + i;
      const o = i * rec;
      buf.writeUInt32LE(1_700_000_000 + Math.floor(k / 100000), o);
      buf.writeUInt32LE((k % 100000) * 10000, o + 4);
      buf.writeUInt32LE(frameLen, o + 8);
      buf.writeUInt32LE(frameLen, o + 12);
      const f = o + 16;
      buf.fill(0xaa, f, f + 6);
      buf.fill(0xbb, f + 6, f + 12);
      buf.writeUInt16BE(0x0800, f + 12);
      const ip = f + 14;
      const proto = [6, 17, 1][k % 3]!;
      buf[ip] = 0x45;
      buf[ip + 1] = 0;
      buf.writeUInt16BE(frameLen - 14, ip + 2);
      buf.writeUInt32BE(0, ip + 4);
      buf[ip + 8] = 64;
      buf[ip + 9] = proto;
      buf.writeUInt16BE(0, ip + 10);
      buf.writeUInt32BE(0x0af40100 + (k % 16), ip + 12);
      buf.writeUInt32BE(0x0af40200 + ((k >> 4) % 16), ip + 16);
      const l4 = ip + 20;
      buf.fill(0, l4, l4 + 60);
      buf.writeUInt16BE(30000 + (k % 1000), l4);
      buf.writeUInt16BE([80, 53, 0][k % 3]!, l4 + 2);
      if (proto === 6) {
        buf[l4 + 12] = 0x50;
        buf[l4 + 13] = k % 50 === 0 ? 0x02 : 0x10;
      }
      if (proto === 17) buf.writeUInt16BE(48, l4 + 4);
      if (proto === 1) buf[l4] = 8;
    }
    writeSync(fd, buf, 0, n * rec);
    done += n;
  }
  closeSync(fd);
}

export interface PipelineResult {
  packets: number;
  kept: number;
  seconds: number;
  rate: number;
}

/** Reads `path` in 1 MiB chunks through the same reader, decoder, predicate and writer the product uses. */
export function runPipeline(path: string, out: string): PipelineResult {
  const predicate = compileFilter(filterFromTokens({ protocols: ['TCP', 'UDP'], ips: ['10.244.0.0/16'] }));
  const reader = new PcapStreamReader();
  const enc = new PcapngEncoder();
  const outFd = openSync(out, 'w');
  const d = newDecoded();
  let packets = 0;
  let kept = 0;
  let ifaceAdded = false;
  const chunk = Buffer.alloc(1 << 20);
  const fd = openSync(path, 'r');
  const write = (b: Buffer): void => {
    writeSync(outFd, b);
  };
  const packet: PcapngPacket = { interfaceId: 0, sec: 0, nsec: 0, originalLength: 0, data: chunk };
  const start = process.hrtime.bigint();
  for (;;) {
    const n = readSync(fd, chunk, 0, chunk.length, null);
    if (n === 0) break;
    reader.push(chunk.subarray(0, n), (r) => {
      packets++;
      if (!ifaceAdded) {
        enc.addInterface({ linkType: reader.header!.linkType, name: 'bench' });
        ifaceAdded = true;
      }
      decode(reader.header!.linkType, r.chunk, d, r.offset, r.offset + r.caplen);
      if (!predicate(d, r.chunk)) return;
      kept++;
      packet.sec = r.sec;
      packet.nsec = r.nsec;
      packet.originalLength = r.originalLength;
      packet.data = r.chunk;
      packet.start = r.offset;
      packet.end = r.offset + r.caplen;
      enc.addPacket(packet);
      if (enc.buffered > 1 << 20) enc.drainTo(write);
    });
  }
  enc.drainTo(write);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  closeSync(fd);
  closeSync(outFd);
  return { packets, kept, seconds, rate: packets / seconds };
}

export function timeTcpdumpRead(path: string): { seconds: number; rate: number; packets: number } {
  const start = process.hrtime.bigint();
  execFileSync('tcpdump', ['-r', path, '-w', '/dev/null'], { stdio: 'ignore' });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, rate: PACKETS / seconds, packets: PACKETS };
}

export function pipelineBench(): Record<string, number | string> {
  const dir = mkdtempSync(join(tmpdir(), 'cnspect-bench-'));
  try {
    const file = join(dir, 'in.pcap');
    generatePcap(file, PACKETS);
    writeFileSync(join(dir, 'note'), 'generated');
    // Warm-up, then best of three for both (the machine has 2 shared cores).
    runPipeline(file, join(dir, 'out.pcapng'));
    const ours = [0, 1, 2].map(() => runPipeline(file, join(dir, 'out.pcapng'))).sort((a, b) => b.rate - a.rate)[0]!;
    const theirs = [0, 1, 2].map(() => timeTcpdumpRead(file)).sort((a, b) => b.rate - a.rate)[0]!;
    return {
      packets: ours.packets,
      kept: ours.kept,
      cnspect_seconds: +ours.seconds.toFixed(3),
      cnspect_packets_per_s: Math.round(ours.rate),
      tcpdump_seconds: +theirs.seconds.toFixed(3),
      tcpdump_packets_per_s: Math.round(theirs.rate),
      ratio_to_tcpdump: +(ours.rate / theirs.rate).toFixed(3),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
