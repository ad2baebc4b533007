// A pcapng file being written while packets arrive. Whole blocks are written synchronously after
// every batch of packets (like tcpdump -U), so the file on disk is valid and at most one batch
// behind whatever ends the process: Ctrl+C, SIGTERM, a closed pipe, or SIGKILL.
// The file is created only once the capture has started (`open`), so a refused or failed capture
// never truncates an existing file or leaves an empty one behind; an existing file is refused
// unless the user said --force.
import { accessSync, closeSync, constants, openSync, statSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CnspectError } from '../errors.js';
import { PcapngEncoder, type PcapngInterface, type PcapngPacket } from '../packet/pcapng-writer.js';

/** A batch larger than this is written before it ends (bounds the memory one batch holds). */
export const PCAPNG_FLUSH_BYTES = 1 << 20;

const fileError = (path: string, why: string, hint: string, cause?: unknown): CnspectError =>
  new CnspectError('CNSPECT_FILE', `cannot write ${path}: ${why}`, {
    hint,
    cause,
    context: { flag: '--write', value: path },
  });

/** Checks, before anything starts, that `path` can be created (or, with `overwrite`, replaced). */
export function checkWritable(path: string, overwrite: boolean): void {
  let existing: ReturnType<typeof statSync> | undefined;
  try {
    existing = statSync(path);
  } catch {
    existing = undefined;
  }
  if (existing?.isDirectory()) throw fileError(path, 'it is a directory', 'give a file name for -w');
  if (existing && !overwrite) {
    throw fileError(path, 'the file exists', 'pass --force (-f) to overwrite it, or choose another name for -w');
  }
  const dir = dirname(resolve(path));
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw fileError(path, `directory ${dir} does not exist or is not writable`, 'choose a writable path for -w', err);
  }
}

export class PcapngFile {
  private fd: number | undefined;
  private closed = false;
  private readonly encoder = new PcapngEncoder(`cnspect`);
  private readonly ids = new Map<string, number>();
  packets = 0;

  constructor(
    readonly path: string,
    private readonly overwrite = false,
  ) {
    checkWritable(path, overwrite);
  }

  get opened(): boolean {
    return this.fd !== undefined;
  }

  /** Creates the file and writes what was buffered until now. */
  open(): void {
    if (this.fd !== undefined || this.closed) return;
    try {
      // 'wx': a file that appeared since the check is not clobbered without --force either.
      this.fd = openSync(this.path, this.overwrite ? 'w' : 'wx', 0o644);
    } catch (err) {
      throw fileError(
        this.path,
        (err as Error).message,
        'choose a writable path for -w (or --force to overwrite)',
        err,
      );
    }
    this.flush();
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

  /** Writes every whole block buffered so far (nothing before `open`). */
  flush(): void {
    if (this.fd === undefined || this.closed || this.encoder.buffered === 0) return;
    const fd = this.fd;
    this.encoder.drainTo((buf) => {
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off);
    });
  }

  close(): void {
    if (this.fd === undefined || this.closed) return;
    this.flush();
    closeSync(this.fd);
    this.closed = true;
  }
}
