// The CLI on Windows: its local counter socket is a named pipe, not a path under /run.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { localSocketAddress, localSocketPid } from '../../src/contract/local-socket.js';
import { createBackend } from '../../src/backends/index.js';

describe('client paths per platform', () => {
  it('uses a named pipe on Windows and a Unix socket under the run directory on Linux', () => {
    assert.equal(localSocketAddress(4242, 'win32'), '\\\\.\\pipe\\cnspect-local-4242');
    assert.equal(localSocketAddress(4242, 'linux', '/run/cnspect'), '/run/cnspect/local-4242.sock');
    assert.equal(localSocketPid('cnspect-local-4242', 'win32'), 4242);
    assert.equal(localSocketPid('local-4242.sock', 'linux'), 4242);
    assert.equal(localSocketPid('other-pipe', 'win32'), undefined);
  });

  it('picks the pktmon backend on Windows and refuses other systems by name', () => {
    assert.equal(createBackend('auto', 'win32').name, 'pktmon');
    assert.equal(createBackend('auto', 'linux').name, 'tcpdump');
    assert.throws(
      () => createBackend('auto', 'darwin'),
      (err: Error & { code?: string }) => err.code === 'CNSPECT_UNSUPPORTED' && /darwin/.test(err.message),
    );
  });
});
