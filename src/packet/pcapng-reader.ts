// Reads a pcapng file block by block (pktmon etl2pcap output on Windows nodes): section header,
// interface descriptions and packets, in either byte order. Hand-written like the writer: a
// file can hold hundreds of MB of packets, so it reads one block at a time and never the whole file.
import { open } from 'node:fs/promises';
import { CnspectError } from '../errors.js';

export interface PcapngInterface {
  linkType: number;
  snaplen: number;
  name: string;
  description: string;
  /** Timestamp units per second (if_tsresol; 10^6 by default). */
  unitsPerSecond: bigint;
}

export interface PcapngPacket {
  interfaceId: number;
  sec: number;
  nsec: number;
  originalLength: number;
  data: Buffer;
  /** epb_flags direction bits: 1 inbound, 2 outbound, 0 unknown. */
  direction: number;
  comment: string;
}

const SHB = 0x0a0d0d0a;
const IDB = 1;
const SPB = 3;
const EPB = 6;
const BOM = 0x1a2b3c4d;
const MAX_BLOCK = 64 << 20;

const bad = (file: string, what: string): never => {
  throw new CnspectError('CNSPECT_FILE', `${file} is not a readable pcapng file: ${what}`, {
    hint: 'the conversion may have been cut short; the ETL file on the node still holds the capture',
  });
};

function options(b: Buffer, start: number, le: boolean): Map<number, Buffer[]> {
  const out = new Map<number, Buffer[]>();
  let o = start;
  const limit = b.length - 4;
  while (o + 4 <= limit) {
    const code = le ? b.readUInt16LE(o) : b.readUInt16BE(o);
    const len = le ? b.readUInt16LE(o + 2) : b.readUInt16BE(o + 2);
    if (code === 0) break;
    if (o + 4 + len > limit) break;
    const list = out.get(code) ?? [];
    list.push(b.subarray(o + 4, o + 4 + len));
    out.set(code, list);
    o += 4 + ((len + 3) & ~3);
  }
  return out;
}

function resolution(v: Buffer | undefined): bigint {
  if (!v || v.length < 1) return 1_000_000n;
  const r = v[0]!;
  return r & 0x80 ? 2n ** BigInt(r & 0x7f) : 10n ** BigInt(r & 0x7f);
}

/** Every interface and packet of the file, in order; `onPacket` may be async (back-pressure). */
export async function readPcapng(
  file: string,
  onInterface: (i: PcapngInterface, id: number) => void,
  onPacket: (p: PcapngPacket) => void | Promise<void>,
): Promise<void> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(12);
    let pos = 0;
    let le = true;
    let interfaces: PcapngInterface[] = [];
    for (;;) {
      const { bytesRead } = await fh.read(head, 0, 12, pos);
      if (bytesRead === 0) return;
      if (bytesRead < 8) bad(file, `a block header is cut at offset ${pos}`);
      let type = head.readUInt32LE(0);
      if (type === SHB) {
        const bom = head.readUInt32LE(8);
        if (bom === BOM) le = true;
        else if (head.readUInt32BE(8) === BOM) le = false;
        else bad(file, `unknown byte-order magic at offset ${pos}`);
        interfaces = [];
      } else if (pos === 0) bad(file, 'it does not start with a section header block');
      if (!le) type = head.readUInt32BE(0);
      const total = le ? head.readUInt32LE(4) : head.readUInt32BE(4);
      if (total < 12 || total % 4 !== 0 || total > MAX_BLOCK) bad(file, `block length ${total} at offset ${pos}`);
      const block = Buffer.alloc(total);
      const got = (await fh.read(block, 0, total, pos)).bytesRead;
      if (got < total) bad(file, `the block at offset ${pos} is cut (${got} of ${total} bytes)`);
      const u32 = (o: number): number => (le ? block.readUInt32LE(o) : block.readUInt32BE(o));
      if (type === IDB) {
        const opts = options(block, 16, le);
        const text = (code: number): string => opts.get(code)?.[0]?.toString('utf8').replace(/\0+$/, '') ?? '';
        const i: PcapngInterface = {
          linkType: le ? block.readUInt16LE(8) : block.readUInt16BE(8),
          snaplen: u32(12),
          name: text(2),
          description: text(3),
          unitsPerSecond: resolution(opts.get(9)?.[0]),
        };
        interfaces.push(i);
        onInterface(i, interfaces.length - 1);
      } else if (type === EPB) {
        const id = u32(8);
        const iface = interfaces[id] ?? bad(file, `a packet names interface ${id}, which was not described`);
        const ts = (BigInt(u32(12)) << 32n) | BigInt(u32(16));
        const caplen = u32(20);
        if (28 + caplen > total - 4) bad(file, `packet at offset ${pos} claims ${caplen} bytes`);
        const opts = options(block, 28 + ((caplen + 3) & ~3), le);
        const flags = opts.get(2)?.[0];
        const ns = (ts * 1_000_000_000n) / iface.unitsPerSecond;
        await onPacket({
          interfaceId: id,
          sec: Number(ns / 1_000_000_000n),
          nsec: Number(ns % 1_000_000_000n),
          originalLength: u32(24),
          data: block.subarray(28, 28 + caplen),
          direction: flags && flags.length >= 4 ? (le ? flags.readUInt32LE(0) : flags.readUInt32BE(0)) & 3 : 0,
          comment:
            opts
              .get(1)
              ?.map((c) => c.toString('utf8'))
              .join(' ') ?? '',
        });
      } else if (type === SPB) {
        const iface = interfaces[0] ?? bad(file, 'a simple packet before any interface');
        const orig = u32(8);
        const caplen = Math.min(orig, iface.snaplen || orig, total - 16);
        await onPacket({
          interfaceId: 0,
          sec: 0,
          nsec: 0,
          originalLength: orig,
          data: block.subarray(12, 12 + caplen),
          direction: 0,
          comment: '',
        });
      }
      pos += total;
    }
  } finally {
    await fh.close();
  }
}
