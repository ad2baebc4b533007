// One error base for the whole product: a stable code the user (and scripts) can match on, a
// message that names the values involved, and a hint that says what to do next.

export const ERROR_CODES = {
  CNSPECT_BAD_FLAG: { exit: 2, grpc: 3 },
  CNSPECT_BAD_REQUEST: { exit: 2, grpc: 3 },
  CNSPECT_FILTER_UNSUPPORTED: { exit: 2, grpc: 9 },
  CNSPECT_FILTER_NEVER_MATCHES: { exit: 2, grpc: 3 },
  CNSPECT_UNSUPPORTED: { exit: 2, grpc: 12 },
  CNSPECT_TOOL_MISSING: { exit: 3, grpc: 9 },
  CNSPECT_TOOL_FAILED: { exit: 3, grpc: 13 },
  CNSPECT_PERMISSION: { exit: 3, grpc: 7 },
  CNSPECT_NETNS_NOT_FOUND: { exit: 2, grpc: 5 },
  CNSPECT_POD_NOT_FOUND: { exit: 2, grpc: 5 },
  CNSPECT_NODE_FAILED: { exit: 4, grpc: 14 },
  CNSPECT_INTERFACE_NOT_FOUND: { exit: 2, grpc: 5 },
  CNSPECT_SESSION_NOT_FOUND: { exit: 2, grpc: 5 },
  CNSPECT_TOO_MANY_SESSIONS: { exit: 3, grpc: 8 },
  CNSPECT_BUSY: { exit: 3, grpc: 10 },
  CNSPECT_AGENT_UNREACHABLE: { exit: 4, grpc: 14 },
  CNSPECT_AGENT_ERROR: { exit: 4, grpc: 13 },
  CNSPECT_TLS: { exit: 4, grpc: 16 },
  CNSPECT_KUBECONFIG: { exit: 2, grpc: 3 },
  CNSPECT_KUBE_API: { exit: 4, grpc: 14 },
  CNSPECT_FORBIDDEN: { exit: 4, grpc: 7 },
  CNSPECT_FILE: { exit: 2, grpc: 13 },
  CNSPECT_INTERNAL: { exit: 1, grpc: 13 },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorContext {
  node?: string;
  flag?: string;
  value?: string;
  command?: string;
}

export class CnspectError extends Error {
  override readonly name = 'CnspectError';
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly context: ErrorContext;

  constructor(
    code: ErrorCode,
    message: string,
    options: { hint?: string; cause?: unknown; context?: ErrorContext } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.context = options.context ?? {};
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CODES, value);
}

/** A flag value that is not allowed: names the flag, the value and what is allowed. */
export function badFlag(flag: string, value: string, allowed: string): CnspectError {
  return new CnspectError(
    'CNSPECT_BAD_FLAG',
    `invalid value for ${flag}: ${JSON.stringify(value)}; allowed: ${allowed}`,
    {
      context: { flag, value },
    },
  );
}

/** Renders any thrown value as "code: message" plus the hint, for the terminal. */
export function describeError(err: unknown): string {
  if (err instanceof CnspectError) {
    const where = err.context.node ? `[${err.context.node}] ` : '';
    return `${where}${err.code}: ${err.message}${err.hint ? `\n  hint: ${err.hint}` : ''}`;
  }
  if (err instanceof Error) return `CNSPECT_INTERNAL: ${err.message}`;
  return `CNSPECT_INTERNAL: ${String(err)}`;
}

/**
 * Refuses to go on without root where the work needs it (raw sockets, network namespaces, nft),
 * before any tool fails with a bare EACCES. `uid` is process.getuid(), undefined on Windows.
 */
export function requireRoot(what: string, uid: number | undefined = process.getuid?.()): void {
  if (uid === undefined || uid === 0) return;
  throw new CnspectError(
    'CNSPECT_PERMISSION',
    `${what} needs root (running as uid ${uid}): it opens raw sockets and enters network namespaces`,
    {
      hint: 'run as root, e.g. `sudo cnspect …`',
    },
  );
}

/** Repeatable, comma-separated flag values ("a,b" "c") → [a, b, c]; an empty item is refused, naming the flag. */
export function splitList(values: readonly string[] | undefined, flag: string): string[] {
  const out: string[] = [];
  for (const v of values ?? []) {
    for (const part of v.split(',')) {
      if (part.trim() === '') throw badFlag(flag, v, 'a comma-separated list with no empty items');
      out.push(part.trim());
    }
  }
  return out;
}
