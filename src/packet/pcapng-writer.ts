// pcapng writer (hot path: one enhanced packet block per packet, written into a reused buffer
// without allocating per packet). Format: IETF draft-ietf-opsawg-pcapng — section header, one
// interface description block per interface, enhanced packet blocks with flags and comments.

export const DIRECTION_FLAG_INBOUND = 1;
export const DIRECTION_FLAG_OUTBOUND = 2;

export interface PcapngInterface {
  linkType: number;
  name: string;
  description?: string;
  snaplen?: number;
}

export interface PcapngPacket {
  interfaceId: number;
  sec: number;
  nsec: number;
  originalLength: number;
  data: Uint8Array;
  /** 0 unknown, 1 inbound, 2 outbound (epb_flags bits 0-1). */
  direction?: number;
  comment?: string;
}

const OPT_END = 0, OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2, IF_DESCRIPTION = 3, IF_TSRESOL = 9;
const EPB_FLAGS = 2;

const pad4 = (n: number): number => (n + 3) & ~3;

/** Accumulates pcapng blocks; `take()` hands out what is ready to write. */
export class PcapngEncoder {
  private buf: Buffer = Buffer.alloc(1 << 20);
  private len = 0;
  private interfaceCount = 0;

  constructor(application = 'cnspect') {
    this.sectionHeader(application);
  }

  get interfaces(): number {
    return this.interfaceCount;
  }

  /** Adds an interface description block (nanosecond resolution); returns its interface id. */
  addInterface(iface: PcapngInterface): number {
    const opts = [option(IF_NAME, Buffer.from(iface.name, 'utf8'))];
    if (iface.description) opts.push(option(IF_DESCRIPTION, Buffer.from(iface.description, 'utf8')));
    opts.push(option(IF_TSRESOL, Buffer.from([9])));
    const body = Buffer.concat([u16u16u32(iface.linkType, 0, iface.snaplen ?? 0), ...opts, endOfOptions()]);
    this.block(0x00000001, body);
    return this.interfaceCount++;
  }

  addPacket(p: PcapngPacket): void {
    const caplen = p.data.length;
    const comment = p.comment ? Buffer.from(p.comment, 'utf8') : undefined;
    const flags = p.direction ? 8 : 0;
    const optLen = (comment ? 4 + pad4(comment.length) : 0) + flags + (comment || flags ? 4 : 0);
    const total = 28 + pad4(caplen) + optLen + 4;
    this.ensure(total);
    const b = this.buf;
    let o = this.len;
    b.writeUInt32LE(0x00000006, o);
    b.writeUInt32LE(total, o + 4);
    b.writeUInt32LE(p.interfaceId, o + 8);
    // 64-bit ns timestamp split in two 32-bit halves with exact double arithmetic (no BigInt per packet):
    // ts = sec * 1e9 + nsec = (hiSec * 1e9) * 2^16 + (loSec * 1e9 + nsec), each product < 2^53.
    const hiSec = Math.floor(p.sec / 65536);
    const a = hiSec * 1e9;
    const bPart = (p.sec - hiSec * 65536) * 1e9 + p.nsec;
    let low = (a % 65536) * 65536 + (bPart % 4294967296);
    const carry = Math.floor(low / 4294967296);
    low -= carry * 4294967296;
    const high = Math.floor(a / 65536) + Math.floor(bPart / 4294967296) + carry;
    b.writeUInt32LE(high >>> 0, o + 12);
    b.writeUInt32LE(low >>> 0, o + 16);
    b.writeUInt32LE(caplen, o + 20);
    b.writeUInt32LE(p.originalLength, o + 24);
    b.set(p.data, o + 28);
    o += 28 + caplen;
    const padding = pad4(caplen) - caplen;
    if (padding) { b.fill(0, o, o + padding); o += padding; }
    if (comment) {
      b.writeUInt16LE(OPT_COMMENT, o); b.writeUInt16LE(comment.length, o + 2);
      comment.copy(b, o + 4);
      const cp = pad4(comment.length);
      b.fill(0, o + 4 + comment.length, o + 4 + cp);
      o += 4 + cp;
    }
    if (flags) {
      b.writeUInt16LE(EPB_FLAGS, o); b.writeUInt16LE(4, o + 2); b.writeUInt32LE(p.direction! & 3, o + 4);
      o += 8;
    }
    if (comment || flags) { b.writeUInt32LE(0, o); o += 4; }
    b.writeUInt32LE(total, o);
    this.len = o + 4;
  }

  /** Bytes buffered so far. */
  get buffered(): number {
    return this.len;
  }

  /** Returns the buffered bytes (a copy) and empties the buffer. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.len));
    this.len = 0;
    return out;
  }

  private sectionHeader(application: string): void {
    const head = Buffer.alloc(16);
    head.writeUInt32LE(0x1a2b3c4d, 0); // byte-order magic
    head.writeUInt16LE(1, 4); head.writeUInt16LE(0, 6); // version 1.0
    head.writeInt32LE(-1, 8); head.writeInt32LE(-1, 12); // section length unknown
    this.block(0x0a0d0d0a, Buffer.concat([head, option(SHB_USERAPPL, Buffer.from(application, 'utf8')), endOfOptions()]));
  }

  private block(type: number, body: Buffer): void {
    const total = 12 + pad4(body.length);
    this.ensure(total);
    this.buf.writeUInt32LE(type, this.len);
    this.buf.writeUInt32LE(total, this.len + 4);
    body.copy(this.buf, this.len + 8);
    this.buf.fill(0, this.len + 8 + body.length, this.len + total - 4);
    this.buf.writeUInt32LE(total, this.len + total - 4);
    this.len += total;
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}

function option(code: number, value: Buffer): Buffer {
  const out = Buffer.alloc(4 + pad4(value.length));
  out.writeUInt16LE(code, 0);
  out.writeUInt16LE(value.length, 2);
  value.copy(out, 4);
  return out;
}

function endOfOptions(): Buffer {
  return Buffer.alloc(4, OPT_END);
}

function u16u16u32(a: number, b: number, c: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt16LE(a, 0); out.writeUInt16LE(b, 2); out.writeUInt32LE(c, 4);
  return out;
}
