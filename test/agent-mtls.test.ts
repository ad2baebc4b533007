// The agent over gRPC with mandatory mutual TLS: real certificates, real captures in test
// namespaces, refused clients, and a killed client whose tcpdump must not survive.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { Agent } from '../src/agent/agent.js';
import { initCertificates, initNodeCertificates, issueFromCa, selfSigned } from '../src/tls/certs.js';
import type { AuditEvent } from '../src/agent/audit.js';
import { serveAgent, type RunningServer } from '../src/agent/server.js';
import { clientFilesIn, agentFilesIn, nodeFilesIn, readTlsFiles } from '../src/tls/material.js';
import { LinuxTcpdumpBackend } from '../src/backends/linux/tcpdump.js';
import { RemoteAgent } from '../src/cluster/agent-client.js';
import { AgentClient, StopReason } from '../src/gen/cnspect/v1/agent.js';
import { inNs, makeNetnsPair, tcpdumpPidsIn, waitNoTcpdump, type NetnsPair } from './helpers/netns.js';
import { request, startCapture } from './helpers/capture.js';
import { waitFor } from './helpers/wait.js';

const CLIENT = fileURLToPath(new URL('../../test/fixtures/remote-client.mjs', import.meta.url));

describe('agent over mutual TLS', () => {
  let net: NetnsPair;
  let dir: string;
  let otherDir: string;
  let agent: Agent;
  let server: RunningServer;
  let address: string;
  const audit: AuditEvent[] = [];

  before(async () => {
    net = makeNetnsPair();
    dir = mkdtempSync(join(tmpdir(), 'cnspect-tls-'));
    otherDir = mkdtempSync(join(tmpdir(), 'cnspect-tls-other-'));
    await initCertificates(dir, ['127.0.0.1', 'localhost']);
    await initCertificates(otherDir, ['127.0.0.1'], 'another CA');
    agent = new Agent(new LinuxTcpdumpBackend(), { maxSessions: 4 }, 'tls-node');
    server = await serveAgent(agent, {
      listen: '127.0.0.1:0',
      tls: readTlsFiles(agentFilesIn(dir), 'agent'),
      audit: (e) => audit.push(e),
    });
    address = `127.0.0.1:${server.port}`;
  });
  after(async () => {
    await agent.close();
    await server.close();
    net.destroy();
    rmSync(dir, { recursive: true, force: true });
    rmSync(otherDir, { recursive: true, force: true });
  });

  it("captures exact counts for a client holding a certificate from the agent's CA", async () => {
    const remote = new RemoteAgent(address, readTlsFiles(clientFilesIn(dir), 'client'), 'tls-node');
    try {
      const info = await remote.info();
      assert.equal(info.os, 'linux');
      assert.equal(info.backend, 'tcpdump');
      const cap = await startCapture(
        remote,
        request({ netns: net.b, tokens: { protocols: ['ICMP'], ips: [net.ipA] } }),
      );
      inNs(net.a, ['ping', '-c', '20', '-i', '0.01', net.ipB]);
      await cap.waitPackets(40);
      const counters = await remote.counters();
      assert.equal(counters.sessions.length, 1);
      const summary = await cap.stop();
      assert.equal(summary.reason, StopReason.STOP_REASON_STOPPED);
      assert.equal(cap.packets.length, 40);
      assert.equal(summary.counters?.packets, 40n);
      // Bad requests come back with their code across the wire.
      await assert.rejects(startCapture(remote, request({ netns: 'no such ns' })), { code: 'CNSPECT_BAD_REQUEST' });
      // The audit trail: who connected, what they captured, how it ended, what was refused.
      await waitFor(() => audit.some((e) => e.event === 'session-ended'), 'the session-ended audit line');
      const accepted = audit.find((e) => e.event === 'connection-accepted')!;
      assert.deepEqual(accepted, { event: 'connection-accepted', peer: accepted.peer, client: 'CN=cnspect-client' });
      assert.match(accepted.peer, /^127\.0\.0\.1:\d+$/);
      const started = audit.find((e) => e.event === 'session-started') as Extract<
        AuditEvent,
        { event: 'session-started' }
      >;
      assert.equal(started.client, 'CN=cnspect-client');
      assert.match(
        started.filter,
        new RegExp(
          `^host ${net.ipA.replace(/\./g, '\\.')} and icmp and not ` +
            `\\(tcp and host 127\\.0\\.0\\.1 and port \\d+ and port ${server.port}\\)$`,
        ),
      );
      assert.deepEqual(
        audit
          .filter((e) => e.event === 'session-ended')
          .map((e) => [e.event === 'session-ended' && e.reason, e.event === 'session-ended' && e.packets]),
        [['stopped', 40]],
      );
      assert.ok(
        audit.some(
          (e) =>
            e.event === 'request-refused' &&
            e.method === 'Capture' &&
            e.code === 'CNSPECT_BAD_REQUEST' &&
            e.client === 'CN=cnspect-client',
        ),
      );
    } finally {
      await remote.close();
    }
  });

  it('refuses a client with no certificate', async () => {
    const client = new AgentClient(address, grpc.credentials.createSsl(readFileSync(join(dir, 'ca.crt'))));
    try {
      await assert.rejects(
        new Promise((resolve, reject) =>
          client.info({}, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) =>
            err ? reject(err) : resolve(res),
          ),
        ),
        (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE,
      );
    } finally {
      client.close();
    }
    assert.equal((await agent.info()).runningSessions, 0);
  });

  it('refuses a plaintext client', async () => {
    const client = new AgentClient(address, grpc.credentials.createInsecure());
    try {
      await assert.rejects(
        new Promise((resolve, reject) =>
          client.info({}, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) =>
            err ? reject(err) : resolve(res),
          ),
        ),
        (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE,
      );
    } finally {
      client.close();
    }
  });

  it('refuses a client whose certificate comes from another CA, and says so', async () => {
    // Trusts the agent (right CA) but presents a client certificate from another CA.
    const foreign = readTlsFiles(clientFilesIn(otherDir), 'client');
    const remote = new RemoteAgent(address, { ...foreign, ca: readFileSync(join(dir, 'ca.crt')) }, 'tls-node');
    try {
      await assert.rejects(remote.info(), {
        code: 'CNSPECT_TLS',
        message: /the client certificate was issued by CN=another CA, not by the deployment's CA \(CN=cnspect CA\)/,
      });
      await assert.rejects(startCapture(remote, request({ netns: net.b })), { code: 'CNSPECT_TLS' });
    } finally {
      await remote.close();
    }
    assert.equal((await agent.info()).runningSessions, 0);
    assert.equal(tcpdumpPidsIn(net.b).length, 0);
    await waitFor(
      () => audit.some((e) => e.event === 'connection-refused' && /certificate/.test(e.reason)),
      'a connection-refused audit line naming the certificate',
    );
  });

  it('names what is wrong with an expired, not yet valid, self-signed or agent certificate', async () => {
    const good = readTlsFiles(clientFilesIn(dir), 'client');
    const hour = 3600_000;
    const cases: Array<[string, Promise<{ cert: string; key: string }>, RegExp]> = [
      [
        'expired',
        issueFromCa(dir, {
          cn: 'old',
          usage: 'client',
          hosts: [],
          notBefore: new Date(Date.now() - 48 * hour),
          notAfter: new Date(Date.now() - 24 * hour),
        }),
        /the client certificate expired on \d{4}-/,
      ],
      [
        'not yet valid',
        issueFromCa(dir, {
          cn: 'new',
          usage: 'client',
          hosts: [],
          notBefore: new Date(Date.now() + 24 * hour),
          notAfter: new Date(Date.now() + 48 * hour),
        }),
        /the client certificate is not valid yet \(valid from \d{4}-/,
      ],
      ['self-signed', selfSigned('me'), /the client certificate is self-signed/],
      [
        'agent certificate',
        Promise.resolve({
          cert: readFileSync(agentFilesIn(dir).cert, 'utf8'),
          key: readFileSync(agentFilesIn(dir).key, 'utf8'),
        }),
        /the client certificate is not for client authentication/,
      ],
    ];
    for (const [what, made, reason] of cases) {
      const m = await made;
      const remote = new RemoteAgent(
        address,
        { ...good, cert: Buffer.from(m.cert), key: Buffer.from(m.key) },
        'tls-node',
      );
      try {
        await assert.rejects(remote.info(), (err: Error & { code?: string }) => {
          assert.equal(err.code, 'CNSPECT_TLS', `${what}: ${err.message}`);
          assert.match(
            err.message,
            /the agent closed the connection right after the TLS handshake: it refused the client certificate/,
            what,
          );
          assert.match(err.message, reason, what);
          return true;
        });
      } finally {
        await remote.close();
      }
    }
  });

  it("refuses an agent whose certificate names another node (one node's key never passes for another)", async () => {
    const nodes = mkdtempSync(join(tmpdir(), 'cnspect-tls-nodes-'));
    try {
      await initNodeCertificates(nodes, [
        { name: 'node-a', hosts: ['127.0.0.1'] },
        { name: 'node-b', hosts: ['127.0.0.2'] },
      ]);
      const client = readTlsFiles(clientFilesIn(nodes), 'client');
      // node-a's agent answers on node-b's address.
      const impostor = await serveAgent(agent, {
        listen: '127.0.0.2:0',
        tls: readTlsFiles(nodeFilesIn(nodes, 'node-a'), 'agent'),
      });
      const honest = await serveAgent(agent, {
        listen: '127.0.0.2:0',
        tls: readTlsFiles(nodeFilesIn(nodes, 'node-b'), 'agent'),
      });
      try {
        const toB = new RemoteAgent(`127.0.0.2:${impostor.port}`, client, 'node-b');
        await assert.rejects(toB.info(), {
          code: 'CNSPECT_TLS',
          message:
            /certificate is for another node: it names DNS:node-a, IP Address:127\.0\.0\.1, not node-b or 127\.0\.0\.2/,
        });
        await toB.close();
        const realB = new RemoteAgent(`127.0.0.2:${honest.port}`, client, 'node-b');
        assert.equal((await realB.info()).hostname, 'tls-node');
        await realB.close();
        // Through a tunnel the address is a local listener: only the node's name counts.
        const tunnelled = new RemoteAgent(`127.0.0.2:${honest.port}`, client, 'node-a', ['node-a']);
        await assert.rejects(tunnelled.info(), { code: 'CNSPECT_TLS', message: /not node-a$/ });
        await tunnelled.close();
      } finally {
        await impostor.close();
        await honest.close();
      }
    } finally {
      rmSync(nodes, { recursive: true, force: true });
    }
  });

  it('stops the session and its tcpdump when the client process is killed mid-capture', async () => {
    const child = spawn(process.execPath, [CLIENT, address, dir, net.b], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await waitFor(() => /started \w+/.test(out), 'the client to start a capture');
      assert.equal(tcpdumpPidsIn(net.b).length, 1);
      child.kill('SIGKILL');
      await waitNoTcpdump(net.b);
      await waitFor(async () => (await agent.info()).runningSessions === 0, 'the agent to forget the session');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('agent process exit', () => {
  let net: NetnsPair;
  let dir: string;
  const BIN = fileURLToPath(new URL('../../bin/cnspect.js', import.meta.url));

  before(async () => {
    net = makeNetnsPair();
    dir = mkdtempSync(join(tmpdir(), 'cnspect-tls-exit-'));
    await initCertificates(dir, ['127.0.0.1']);
  });
  after(() => {
    net.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startAgentProcess(): Promise<{ child: ReturnType<typeof spawn>; address: string; err: () => string }> {
    const files = agentFilesIn(dir);
    const child = spawn(
      process.execPath,
      [BIN, 'agent', '--listen', '127.0.0.1:0', '--tls-cert', files.cert, '--tls-key', files.key, '--tls-ca', files.ca],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const port = await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(err)?.[1], 'the agent to listen');
    return { child, address: `127.0.0.1:${port}`, err: () => err };
  }

  it('ends running sessions with their final counts on SIGTERM, leaving no tcpdump', async () => {
    const { child, address } = await startAgentProcess();
    const exited = new Promise<number | null>((r) => child.once('close', r));
    const remote = new RemoteAgent(address, readTlsFiles(clientFilesIn(dir), 'client'), 'exit-node');
    try {
      const cap = await startCapture(remote, request({ netns: net.b, tokens: { protocols: ['ICMP'] } }));
      inNs(net.a, ['ping', '-c', '3', '-i', '0.01', net.ipB]);
      await cap.waitPackets(6);
      child.kill('SIGTERM');
      const summary = await cap.summary;
      assert.equal(summary.reason, StopReason.STOP_REASON_AGENT_EXIT);
      assert.equal(summary.counters?.packets, 6n);
      assert.equal(await exited, 0);
      await waitNoTcpdump(net.b);
    } finally {
      await remote.close();
      child.kill('SIGKILL');
    }
  });

  it('leaves no tcpdump when the agent process is killed outright', async () => {
    const { child, address } = await startAgentProcess();
    const remote = new RemoteAgent(address, readTlsFiles(clientFilesIn(dir), 'client'), 'kill-node');
    try {
      const cap = await startCapture(remote, request({ netns: net.b }));
      assert.equal(tcpdumpPidsIn(net.b).length, 1);
      child.kill('SIGKILL');
      await waitNoTcpdump(net.b);
      await assert.rejects(
        cap.summary,
        (err: Error & { code?: string }) =>
          err.code === 'CNSPECT_AGENT_UNREACHABLE' || err.code === 'CNSPECT_AGENT_ERROR',
      );
    } finally {
      await remote.close();
      child.kill('SIGKILL');
    }
  });
});
