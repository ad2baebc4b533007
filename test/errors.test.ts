// Every error code is pinned: its exit status, its gRPC status, and that it survives the wire.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { CnspectError, ERROR_CODES, describeError, type ErrorCode } from '../src/errors.js';
import { toServiceError } from '../src/agent/server.js';
import { fromServiceError } from '../src/cluster/agent-client.js';

const EXPECTED: Record<ErrorCode, [exit: number, grpc: number]> = {
  CNSPECT_BAD_FLAG: [2, grpc.status.INVALID_ARGUMENT],
  CNSPECT_BAD_REQUEST: [2, grpc.status.INVALID_ARGUMENT],
  CNSPECT_FILTER_UNSUPPORTED: [2, grpc.status.FAILED_PRECONDITION],
  CNSPECT_FILTER_NEVER_MATCHES: [2, grpc.status.INVALID_ARGUMENT],
  CNSPECT_UNSUPPORTED: [2, grpc.status.UNIMPLEMENTED],
  CNSPECT_TOOL_MISSING: [3, grpc.status.FAILED_PRECONDITION],
  CNSPECT_TOOL_FAILED: [3, grpc.status.INTERNAL],
  CNSPECT_PERMISSION: [3, grpc.status.PERMISSION_DENIED],
  CNSPECT_NETNS_NOT_FOUND: [2, grpc.status.NOT_FOUND],
  CNSPECT_POD_NOT_FOUND: [2, grpc.status.NOT_FOUND],
  CNSPECT_NODE_FAILED: [4, grpc.status.UNAVAILABLE],
  CNSPECT_INTERFACE_NOT_FOUND: [2, grpc.status.NOT_FOUND],
  CNSPECT_SESSION_NOT_FOUND: [2, grpc.status.NOT_FOUND],
  CNSPECT_TOO_MANY_SESSIONS: [3, grpc.status.RESOURCE_EXHAUSTED],
  CNSPECT_BUSY: [3, grpc.status.ABORTED],
  CNSPECT_AGENT_UNREACHABLE: [4, grpc.status.UNAVAILABLE],
  CNSPECT_AGENT_ERROR: [4, grpc.status.INTERNAL],
  CNSPECT_TLS: [4, grpc.status.UNAUTHENTICATED],
  CNSPECT_KUBECONFIG: [2, grpc.status.INVALID_ARGUMENT],
  CNSPECT_KUBE_API: [4, grpc.status.UNAVAILABLE],
  CNSPECT_FORBIDDEN: [4, grpc.status.PERMISSION_DENIED],
  CNSPECT_FILE: [2, grpc.status.INTERNAL],
  CNSPECT_INTERNAL: [1, grpc.status.INTERNAL],
};

describe('error codes', () => {
  const docs = readFileSync(fileURLToPath(new URL('../../docs/errors.md', import.meta.url)), 'utf8');
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    it(`${code}: exit status, gRPC status, documented, and kept across the wire`, () => {
      const err = new CnspectError(code, 'something specific', { hint: 'do this' });
      assert.equal(err.exitCode, EXPECTED[code][0]);
      const wire = toServiceError(err);
      assert.equal(wire.code, EXPECTED[code][1]);
      const back = fromServiceError(wire, 'node-7');
      assert.equal(back.code, code);
      assert.equal(back.hint, 'do this');
      assert.equal(back.context.node, 'node-7');
      assert.equal(describeError(back), `[node-7] ${code}: something specific\n  hint: do this`);
      assert.match(docs, new RegExp(`\\| \`${code}\` \\| ${EXPECTED[code][0]} \\|`));
    });
  }
});
