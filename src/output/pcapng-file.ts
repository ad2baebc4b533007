// A pcapng file being written while packets arrive. Whole blocks are written synchronously, so
// the file on disk is valid after every flush — also when the user presses Ctrl+C twice.
import { closeSync, openSync, writeSync } from 'node:fs';
import { CnspectError } from '../errors.js';
import { PcapngEncoder, type PcapngInterface, type PcapngPacket } from '../packet/pcapng-writer.js';

export const PCAPNG_FLUSH_BYTES = 1 << 20;

export class PcapngFile {
  private readonly fd: number;
  private readonly encoder = new PcapngEncoder(`cnspect`);
  private readonly ids = new Map<string, number>();
  packets = 0;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'w', 0o644);
    } catch (err) {
      throw new CnspectError('CNSPECT_FILE', `cannot write ${path}: ${(err as Error).message}`, { cause: err, hint: 'choose a writable path for -w' });
    }
  }

  /** Interface id for `key` (e.g. "node/iface"), adding its block on first use. */
  interfaceId(key: string, iface: PcapngInterface): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.encoder.addInterface(iface);
      this.ids.set(key, id);
    }
    return id;
  }

  add(p: PcapngPacket): void {
    this.encoder.addPacket(p);
    this.packets++;
    if (this.encoder.buffered >= PCAPNG_FLUSH_BYTES) this.flush();
  }

  flush(): void {
    if (this.encoder.buffered === 0) return;
    this.encoder.drainTo((buf) => {
      let off = 0;
      while (off < buf.length) off += writeSync(this.fd, buf, off);
    });
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}
