// What every request from the wire is held to before the agent does any work with it: a size for
// the whole message, and for every string and list in it (docs/security.md lists them). The
// field rules (names, addresses, ranges) come after, in agent.ts and packet/filter.ts.
import { CnspectError } from '../errors.js';

/** A whole request, encoded. The largest valid one (32 pods, 64 CIDRs …) is a few KiB. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Any string field: a DNS name's limit, longer than every valid name, address or id. */
export const MAX_STRING_CHARS = 253;
/** Any repeated field (fields with a smaller limit of their own say so where they are checked). */
export const MAX_LIST_ITEMS = 64;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what it refuses
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Refuses a decoded request whose strings or lists are too long, or whose strings hold control characters. */
export function checkRequestShape(value: unknown, path = 'request'): void {
  const bad = (message: string): never => {
    throw new CnspectError('CNSPECT_BAD_REQUEST', message);
  };
  if (typeof value === 'string') {
    if (value.length > MAX_STRING_CHARS)
      bad(`${path} is ${value.length} characters long; allowed: at most ${MAX_STRING_CHARS}`);
    if (CONTROL.test(value))
      bad(`${path} contains a control character (${JSON.stringify(CONTROL.exec(value)![0])}); allowed: printable text`);
    return;
  }
  if (Array.isArray(value)) {
    if (value.length > MAX_LIST_ITEMS) bad(`${path} has ${value.length} items; allowed: at most ${MAX_LIST_ITEMS}`);
    for (const [i, v] of value.entries()) checkRequestShape(v, `${path}[${i}]`);
    return;
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const [k, v] of Object.entries(value)) checkRequestShape(v, `${path}.${k}`);
  }
}

/** What a request that could not be decoded becomes, so it is answered INVALID_ARGUMENT with a message. */
export class UndecodableRequest {
  constructor(readonly reason: string) {}
}

/** Wraps a generated service so that decoding never throws (grpc-js would answer INTERNAL). */
export function tolerantService<S extends Record<string, { requestDeserialize: (b: Buffer) => unknown }>>(
  service: S,
): S {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    out[name] = {
      ...method,
      requestDeserialize: (b: Buffer): unknown => {
        try {
          return method.requestDeserialize(b);
        } catch (err) {
          return new UndecodableRequest((err as Error).message);
        }
      },
    };
  }
  return out as S;
}

/** The request, checked; throws a coded error for one that was undecodable or out of shape. */
export function admit<T>(req: T | UndecodableRequest, method: string): T {
  if (req instanceof UndecodableRequest) {
    throw new CnspectError(
      'CNSPECT_BAD_REQUEST',
      `the ${method} request could not be decoded as cnspect.v1 protobuf: ${req.reason.slice(0, 120)}`,
      {
        hint: 'client and agent must speak the same cnspect.v1 API (same cnspect version)',
      },
    );
  }
  checkRequestShape(req);
  return req;
}
