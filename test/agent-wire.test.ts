// Requests straight to the agent's gRPC methods, as a hostile or broken client would send them:
// every string field with injected text, oversized strings and lists, undecodable bytes, unknown
// enum values. Each must be refused with INVALID_ARGUMENT and a message, before any OS tool runs,
// and the connection must stay usable. The CLI validates too; these bypass it on purpose.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Agent } from '../src/agent/agent.js';
import { initCertificates } from '../src/tls/certs.js';
import { spawnedChildren } from '../src/process/child.js';
import { serveAgent, type RunningServer } from '../src/agent/server.js';
import { agentFilesIn, clientFilesIn, readTlsFiles } from '../src/tls/material.js';
import { LinuxTcpdumpBackend } from '../src/backends/linux/tcpdump.js';
import {
  AgentClient,
  type CaptureRequest,
  CaptureRequest as CaptureRequestCodec,
} from '../src/gen/cnspect/v1/agent.js';
import { emptyFilter } from '../src/packet/filter.js';
import { request } from './helpers/capture.js';

const INJECTED = [
  '10.0.0.1 or not port 22',
  ';',
  '$(id)',
  '`id`',
  '../../etc',
  'a\u0000b',
  '-i',
  'x'.repeat(300),
  'é'.repeat(1 << 20),
];

type Status = { code: number; details: string };

describe('agent wire validation (raw gRPC)', () => {
  let dir: string;
  let agent: Agent;
  let server: RunningServer;
  let client: AgentClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cnspect-wire-'));
    await initCertificates(dir, ['127.0.0.1']);
    agent = new Agent(new LinuxTcpdumpBackend(), {}, 'wire-node');
    server = await serveAgent(agent, { listen: '127.0.0.1:0', tls: readTlsFiles(agentFilesIn(dir), 'agent') });
    const tls = readTlsFiles(clientFilesIn(dir), 'client');
    client = new AgentClient(`127.0.0.1:${server.port}`, grpc.credentials.createSsl(tls.ca, tls.key, tls.cert), {
      'grpc.max_send_message_length': 8 << 20,
    });
  });
  after(async () => {
    client.close();
    await agent.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The status a Capture call ends with (it must end before any event). */
  const captureStatus = (req: CaptureRequest): Promise<Status> =>
    new Promise((resolve) => {
      const call = client.capture(req, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
      call.on('data', () => resolve({ code: -1, details: 'an event was sent: the capture started' }));
      call.on('error', (err: grpc.ServiceError) => resolve({ code: err.code, details: err.details }));
      call.on('end', () => resolve({ code: -2, details: 'ended without a status' }));
    });
  const unaryStatus = <Req>(
    method: (
      req: Req,
      md: grpc.Metadata,
      o: Partial<grpc.CallOptions>,
      cb: (e: grpc.ServiceError | null) => void,
    ) => unknown,
    req: Req,
  ): Promise<Status> =>
    new Promise((resolve) => {
      method.call(client, req, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err) =>
        resolve(err ? { code: err.code, details: err.details } : { code: 0, details: 'accepted' }),
      );
    });

  const refused = (s: Status, what: string): void => {
    assert.ok(
      s.code === grpc.status.INVALID_ARGUMENT || s.code === grpc.status.RESOURCE_EXHAUSTED,
      `${what}: ${s.code} ${s.details}`,
    );
    assert.ok(
      s.details.length > 10 && s.details.length < 2200,
      `${what}: a short message, got ${s.details.length} characters`,
    );
  };

  const fields: Array<[string, (v: string) => CaptureRequest]> = [
    ['interface', (v) => request({ interface: v })],
    ['netns', (v) => request({ netns: v })],
    ['filter.cidrs', (v) => request({ filter: { ...emptyFilter(), cidrs: [v] } })],
    ['filter.macs', (v) => request({ filter: { ...emptyFilter(), macs: [v] } })],
    [
      'filter.exclude.cidrs',
      (v) => request({ filter: { ...emptyFilter(), exclude: [{ ...emptyFilter(), cidrs: [v] }] } }),
    ],
    ['pods.name', (v) => request({ pods: [{ namespace: 'default', name: v, ips: ['10.244.1.5'] }] })],
    ['pods.namespace', (v) => request({ pods: [{ namespace: v, name: 'web', ips: ['10.244.1.5'] }] })],
    ['pods.ips', (v) => request({ pods: [{ namespace: 'default', name: 'web', ips: [v] }] })],
  ];

  for (const [field, make] of fields) {
    it(`refuses injected text in ${field} before running anything`, async () => {
      const before = spawnedChildren();
      for (const value of INJECTED)
        refused(await captureStatus(make(value)), `${field}=${JSON.stringify(value.slice(0, 30))}`);
      assert.equal(spawnedChildren(), before, 'no OS tool was started');
      assert.equal((await agent.info()).runningSessions, 0);
    });
  }

  it('refuses bad ids, pods and sections on the unary methods; the connection keeps working', async () => {
    const before = spawnedChildren();
    for (const value of INJECTED) {
      refused(await unaryStatus(client.stopCapture, { sessionId: value }), `stopCapture ${value.slice(0, 20)}`);
      refused(
        await unaryStatus(client.counters, { sessionId: value, includeHidden: false }),
        `counters ${value.slice(0, 20)}`,
      );
      refused(
        await unaryStatus(client.portCounters, {
          pod: { namespace: 'default', name: value, ips: ['10.0.0.1'] },
          detailed: false,
        }),
        `portCounters ${value.slice(0, 20)}`,
      );
    }
    for (const section of [99, -1])
      refused(await unaryStatus(client.datapath, { section }), `datapath section ${section}`);
    refused(await unaryStatus(client.portCounters, { pod: undefined, detailed: false }), 'portCounters without a pod');
    assert.equal(spawnedChildren(), before, 'no OS tool was started');
    assert.equal((await unaryStatus(client.info, {})).code, 0, 'the same connection still answers');
  });

  it('refuses too many list items and a 1 MB interface name without wedging the connection', async () => {
    refused(
      await captureStatus(
        request({ filter: { ...emptyFilter(), cidrs: Array.from({ length: 65 }, (_, i) => `10.0.0.${i}`) } }),
      ),
      '65 CIDRs',
    );
    refused(
      await captureStatus(
        request({
          pods: Array.from({ length: 33 }, (_, i) => ({ namespace: 'default', name: `p${i}`, ips: ['10.0.0.1'] })),
        }),
      ),
      '33 pods',
    );
    for (let i = 0; i < 30; i++)
      refused(await captureStatus(request({ interface: 'x'.repeat(1 << 20) })), `1 MB interface #${i}`);
    assert.equal((await unaryStatus(client.info, {})).code, 0, 'later calls on the connection are answered');
  });

  it('answers bytes that are not a request with INVALID_ARGUMENT and a message, not INTERNAL', async () => {
    const raw = (bytes: Buffer): Promise<Status> =>
      new Promise((resolve) => {
        const call = client.makeServerStreamRequest(
          '/cnspect.v1.Agent/Capture',
          (b: Buffer) => b,
          (b: Buffer) => b,
          bytes,
          new grpc.Metadata(),
          { deadline: Date.now() + 10_000 },
        );
        call.on('data', () => resolve({ code: -1, details: 'data' }));
        call.on('error', (err: grpc.ServiceError) => resolve({ code: err.code, details: err.details }));
      });
    const s = await raw(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    assert.equal(s.code, grpc.status.INVALID_ARGUMENT, s.details);
    assert.match(s.details, /the Capture request could not be decoded as cnspect\.v1 protobuf/);
    // A valid encoding still decodes (the wrapper only catches failures).
    const ok = CaptureRequestCodec.encode(request({ netns: 'bad name' })).finish();
    assert.match((await raw(Buffer.from(ok))).details, /invalid network namespace name "bad name"/);
  });
});
