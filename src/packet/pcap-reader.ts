// Streaming reader for the classic pcap format as tcpdump writes it to a pipe. Hot path: it
// slices records out of the incoming chunks without copying, and copies only a record that
// straddles two chunks.
import { CnspectError } from '../errors.js';

export interface PcapHeader {
  linkType: number;
  snaplen: number;
  /** true when the file's timestamps are in nanoseconds (magic 0xa1b23c4d). */
  nanosecond: boolean;
  littleEndian: boolean;
}

export interface PcapRecord {
  /** Seconds since the Unix epoch. */
  sec: number;
  /** Nanoseconds within the second. */
  nsec: number;
  originalLength: number;
  /** The chunk holding the record: captured bytes are chunk[offset, offset + caplen). Valid until the next push. */
  chunk: Buffer;
  offset: number;
  caplen: number;
}

/** The record's captured bytes as a view (allocates a Buffer object: keep it off the hot path). */
export function recordData(r: PcapRecord): Buffer {
  return r.chunk.subarray(r.offset, r.offset + r.caplen);
}

const MAX_RECORD = 256 * 1024 * 4; // far above any snaplen libpcap accepts; beyond it the stream is corrupt

export class PcapStreamReader {
  header: PcapHeader | undefined;
  private pending: Buffer = Buffer.alloc(0);

  /** Feeds a chunk; calls `onRecord` for each complete record (synchronously, in order). */
  push(chunk: Buffer, onRecord: (r: PcapRecord) => void): void {
    const buf = chunk;
    let o = 0;
    if (this.pending.length) {
      // Complete the record that straddles the previous chunk by copying only its own bytes.
      const need = this.header ? this.bytesToComplete(chunk) : 24 - this.pending.length;
      if (need > chunk.length) {
        this.pending = Buffer.concat([this.pending, chunk]);
        return;
      }
      const joined = Buffer.concat([this.pending, chunk.subarray(0, need)]);
      this.pending = Buffer.alloc(0);
      if (!this.header) {
        this.header = parseGlobalHeader(joined);
      } else this.parse(joined, 0, onRecord);
      o = need;
    }
    if (!this.header) {
      if (buf.length - o < 24) {
        this.pending = Buffer.from(buf.subarray(o));
        return;
      }
      this.header = parseGlobalHeader(buf.subarray(o));
      o += 24;
    }
    o = this.parse(buf, o, onRecord);
    if (o < buf.length) this.pending = Buffer.from(buf.subarray(o));
  }

  /** How many bytes of `chunk` complete the pending partial record (may exceed chunk's length). */
  private bytesToComplete(chunk: Buffer): number {
    const have = this.pending.length;
    if (have < 16) {
      if (have + chunk.length < 16) return 16 - have + 1; // not even the record header yet
      const head = Buffer.concat([this.pending, chunk.subarray(0, 16 - have)]);
      return 16 + this.caplenAt(head, 0) - have;
    }
    return 16 + this.caplenAt(this.pending, 0) - have;
  }

  private caplenAt(buf: Buffer, o: number): number {
    const caplen = this.header!.littleEndian ? r32le(buf, o + 8) : r32be(buf, o + 8);
    if (caplen > MAX_RECORD)
      throw new CnspectError('CNSPECT_TOOL_FAILED', `pcap stream corrupt: record of ${caplen} bytes`);
    return caplen;
  }

  /** Emits the whole records in buf from o on; returns the offset of the first incomplete one. */
  private parse(buf: Buffer, o: number, onRecord: (r: PcapRecord) => void): number {
    const { littleEndian: le, nanosecond } = this.header!;
    const r32 = le ? r32le : r32be;
    const record: PcapRecord = { sec: 0, nsec: 0, originalLength: 0, chunk: buf, offset: 0, caplen: 0 };
    while (buf.length - o >= 16) {
      const caplen = this.caplenAt(buf, o);
      if (buf.length - o - 16 < caplen) break;
      record.sec = r32(buf, o);
      const frac = r32(buf, o + 4);
      record.nsec = nanosecond ? frac : frac * 1000;
      record.originalLength = r32(buf, o + 12);
      record.offset = o + 16;
      record.caplen = caplen;
      onRecord(record);
      o += 16 + caplen;
    }
    return o;
  }

  /** Bytes received but not yet forming a whole record (non-zero at the end = truncated stream). */
  get pendingBytes(): number {
    return this.pending.length;
  }
}

// Reads without Buffer's per-call range checks (callers checked the length).
const r32le = (b: Buffer, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
const r32be = (b: Buffer, o: number): number => b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);

export function parseGlobalHeader(buf: Buffer): PcapHeader {
  const magicLE = buf.readUInt32LE(0);
  let littleEndian: boolean;
  let nanosecond: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) {
    littleEndian = true;
    nanosecond = magicLE === 0xa1b23c4d;
  } else {
    const magicBE = buf.readUInt32BE(0);
    if (magicBE !== 0xa1b2c3d4 && magicBE !== 0xa1b23c4d) {
      throw new CnspectError('CNSPECT_FILE', `not a pcap stream: magic 0x${magicLE.toString(16)}`, {
        hint: 'expected a classic pcap file (tcpdump -w); pcapng input is not read here',
      });
    }
    littleEndian = false;
    nanosecond = magicBE === 0xa1b23c4d;
  }
  const snaplen = littleEndian ? buf.readUInt32LE(16) : buf.readUInt32BE(16);
  const linkType = (littleEndian ? buf.readUInt32LE(20) : buf.readUInt32BE(20)) & 0x0fffffff;
  return { linkType, snaplen, nanosecond, littleEndian };
}
