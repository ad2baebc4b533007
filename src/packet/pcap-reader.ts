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
  /** Captured bytes; a view into the reader's chunk, valid until the next push. */
  data: Buffer;
}

const MAX_RECORD = 256 * 1024 * 4; // far above any snaplen libpcap accepts; beyond it the stream is corrupt

export class PcapStreamReader {
  header: PcapHeader | undefined;
  private pending: Buffer = Buffer.alloc(0);

  /** Feeds a chunk; calls `onRecord` for each complete record (synchronously, in order). */
  push(chunk: Buffer, onRecord: (r: PcapRecord) => void): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let o = 0;
    if (!this.header) {
      if (buf.length < 24) { this.pending = Buffer.from(buf); return; }
      this.header = parseGlobalHeader(buf);
      o = 24;
    }
    const { littleEndian: le, nanosecond } = this.header;
    const record: PcapRecord = { sec: 0, nsec: 0, originalLength: 0, data: buf };
    while (buf.length - o >= 16) {
      const caplen = le ? buf.readUInt32LE(o + 8) : buf.readUInt32BE(o + 8);
      if (caplen > MAX_RECORD) throw new CnspectError('CNSPECT_TOOL_FAILED', `pcap stream corrupt: record of ${caplen} bytes at offset ${o}`);
      if (buf.length - o - 16 < caplen) break;
      record.sec = le ? buf.readUInt32LE(o) : buf.readUInt32BE(o);
      const frac = le ? buf.readUInt32LE(o + 4) : buf.readUInt32BE(o + 4);
      record.nsec = nanosecond ? frac : frac * 1000;
      record.originalLength = le ? buf.readUInt32LE(o + 12) : buf.readUInt32BE(o + 12);
      record.data = buf.subarray(o + 16, o + 16 + caplen);
      onRecord(record);
      o += 16 + caplen;
    }
    this.pending = o < buf.length ? Buffer.from(buf.subarray(o)) : Buffer.alloc(0);
    buf = Buffer.alloc(0);
  }

  /** Bytes received but not yet forming a whole record (non-zero at the end = truncated stream). */
  get pendingBytes(): number {
    return this.pending.length;
  }
}

export function parseGlobalHeader(buf: Buffer): PcapHeader {
  const magicLE = buf.readUInt32LE(0);
  let littleEndian: boolean;
  let nanosecond: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) { littleEndian = true; nanosecond = magicLE === 0xa1b23c4d; }
  else {
    const magicBE = buf.readUInt32BE(0);
    if (magicBE !== 0xa1b2c3d4 && magicBE !== 0xa1b23c4d) {
      throw new CnspectError('CNSPECT_FILE', `not a pcap stream: magic 0x${magicLE.toString(16)}`, { hint: 'expected a classic pcap file (tcpdump -w); pcapng input is not read here' });
    }
    littleEndian = false; nanosecond = magicBE === 0xa1b23c4d;
  }
  const snaplen = littleEndian ? buf.readUInt32LE(16) : buf.readUInt32BE(16);
  const linkType = (littleEndian ? buf.readUInt32LE(20) : buf.readUInt32BE(20)) & 0x0fffffff;
  return { linkType, snaplen, nanosecond, littleEndian };
}
