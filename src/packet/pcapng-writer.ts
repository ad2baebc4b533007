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
  /** Captured bytes are data[start ?? 0, end ?? data.length). */
  data: Uint8Array;
  start?: number;
  end?: number;
  /** 0 unknown, 1 inbound, 2 outbound (epb_flags bits 0-1). */
  direction?: number;
  comment?: string;
}

const OPT_END = 0,
  OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2,
  IF_DESCRIPTION = 3,
  IF_TSRESOL = 9;
const EPB_FLAGS = 2;

const pad4 = (n: number): number => (n + 3) & ~3;

// Little-endian stores without Buffer's per-call range checks (the caller ensured capacity).
function w32(b: Buffer, v: number, o: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}
function w16(b: Buffer, v: number, o: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

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
    const start = p.start ?? 0;
    const caplen = (p.end ?? p.data.length) - start;
    const comment = p.comment ? Buffer.from(p.comment, 'utf8') : undefined;
    const flags = p.direction ? 8 : 0;
    const optLen = (comment ? 4 + pad4(comment.length) : 0) + flags + (comment || flags ? 4 : 0);
    const total = 28 + pad4(caplen) + optLen + 4;
    this.ensure(total);
    const b = this.buf;
    let o = this.len;
    w32(b, 0x00000006, o);
    w32(b, total, o + 4);
    w32(b, p.interfaceId, o + 8);
    // 64-bit ns timestamp split in two 32-bit halves with exact double arithmetic (no BigInt per packet):
    // ts = sec * 1e9 + nsec = (hiSec * 1e9) * 2^16 + (loSec * 1e9 + nsec), each product < 2^53.
    const hiSec = Math.floor(p.sec / 65536);
    const a = hiSec * 1e9;
    const bPart = (p.sec - hiSec * 65536) * 1e9 + p.nsec;
    let low = (a % 65536) * 65536 + (bPart % 4294967296);
    const carry = Math.floor(low / 4294967296);
    low -= carry * 4294967296;
    const high = Math.floor(a / 65536) + Math.floor(bPart / 4294967296) + carry;
    w32(b, high >>> 0, o + 12);
    w32(b, low >>> 0, o + 16);
    w32(b, caplen, o + 20);
    w32(b, p.originalLength, o + 24);
    if (start === 0 && caplen === p.data.length) b.set(p.data, o + 28);
    else Buffer.prototype.copy.call(p.data, b, o + 28, start, start + caplen); // a range copy without a view object
    o += 28 + caplen;
    for (let padding = pad4(caplen) - caplen; padding > 0; padding--) b[o++] = 0; // fill() costs more for 1-3 bytes
    if (comment) {
      w16(b, OPT_COMMENT, o);
      w16(b, comment.length, o + 2);
      comment.copy(b, o + 4);
      const cp = pad4(comment.length);
      b.fill(0, o + 4 + comment.length, o + 4 + cp);
      o += 4 + cp;
    }
    if (flags) {
      w16(b, EPB_FLAGS, o);
      w16(b, 4, o + 2);
      w32(b, p.direction! & 3, o + 4);
      o += 8;
    }
    if (comment || flags) {
      w32(b, 0, o);
      o += 4;
    }
    w32(b, total, o);
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

  /** Hands the buffered bytes to `write` without copying, then empties the buffer. */
  drainTo(write: (bytes: Buffer) => void): void {
    if (this.len) write(this.buf.subarray(0, this.len));
    this.len = 0;
  }

  private sectionHeader(application: string): void {
    const head = Buffer.alloc(16);
    head.writeUInt32LE(0x1a2b3c4d, 0); // byte-order magic
    head.writeUInt16LE(1, 4);
    head.writeUInt16LE(0, 6); // version 1.0
    head.writeInt32LE(-1, 8);
    head.writeInt32LE(-1, 12); // section length unknown
    this.block(
      0x0a0d0d0a,
      Buffer.concat([head, option(SHB_USERAPPL, Buffer.from(application, 'utf8')), endOfOptions()]),
    );
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
  out.writeUInt16LE(a, 0);
  out.writeUInt16LE(b, 2);
  out.writeUInt32LE(c, 4);
  return out;
}
