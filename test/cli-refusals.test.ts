// Refusals that used to surface as a tool's failure, a stack trace or a hang: each now names what
// was wrong (the file, the path, the key) and says what to do.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseInventory } from '../src/cluster/inventory.js';
import { runCli } from './helpers/cli.js';

const NOBODY = 65534;

describe('refusals that name what is wrong', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cnspect-refusals-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses unknown keys inside a node, a pod and tls, naming the path', () => {
    const node = '  - {name: a, address: "h:1"}\n';
    const cases: Array<[string, RegExp]> = [
      [
        `nodes:\n  - {name: a, adress: "h:1"}\n`,
        /inventory \/x\.yaml: nodes\[0\]\.adress: unknown key \(allowed: name, address, os\)/,
      ],
      [
        `nodes:\n${node}pods:\n  - {name: p, node: a, ips: [10.0.0.1], label: {}}\n`,
        /pods\[0\]\.label: unknown key \(allowed: name, namespace, node, ips, labels\)/,
      ],
      [`nodes:\n${node}tls: {ca: c, cert: c, key: k, crt: x}\n`, /tls\.crt: unknown key \(allowed: ca, cert, key\)/],
      [`nodes:\n  - just-a-name\n`, /nodes\[0\]: must be a mapping/],
      [`nodes:\n${node}tls: [a]\n`, /tls: must be a mapping/],
      [`nodes:\n  - {name: a, address: "h:0"}\n`, /nodes\[0\]\.address: port 0 is out of range; allowed: 1-65535/],
      [
        `nodes:\n  - {name: a, address: "h:70000"}\n`,
        /nodes\[0\]\.address: port 70000 is out of range; allowed: 1-65535/,
      ],
    ];
    for (const [yaml, message] of cases)
      assert.throws(
        () => parseInventory(yaml, '/x.yaml'),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'CNSPECT_FILE');
          assert.match(err.message, message);
          return true;
        },
      );
    assert.equal(
      parseInventory(`nodes:\n  - {name: a, address: "[fd00::1]:65535"}\n`, '/x.yaml').nodes[0]!.address,
      '[fd00::1]:65535',
    );
  });

  it('fails at once for a certificate directory that cannot be created (it used to spin under /proc)', {
    timeout: 20_000,
  }, async () => {
    const run = runCli(['certs', 'init', '/proc/cnspect-never/tls', '--host', 'node1']);
    assert.equal(await run.exit, 2);
    assert.match(run.err(), /^CNSPECT_FILE: cannot create \/proc\/cnspect-never\/tls: .*ENOENT/);
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    const under = runCli(['certs', 'init', join(file, 'tls'), '--host', 'node1']);
    assert.equal(await under.exit, 2);
    assert.match(under.err(), new RegExp(`CNSPECT_FILE: cannot create .*: ${file} is not a directory`));
  });

  it('issues one certificate per node with --node, each naming only its node (read back by openssl)', async () => {
    const tls = join(dir, 'nodes');
    const run = runCli(['certs', 'init', tls, '--node', 'node1=10.0.0.5,node1.lan', '--node', 'node2=10.0.0.6']);
    assert.equal(await run.exit, 0, run.err());
    const san = (f: string): string =>
      execFileSync('openssl', ['x509', '-in', f, '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' });
    assert.match(san(join(tls, 'node1.crt')), /DNS:node1, IP Address:10\.0\.0\.5, DNS:node1\.lan\n/);
    assert.doesNotMatch(san(join(tls, 'node1.crt')), /node2|10\.0\.0\.6/);
    assert.match(san(join(tls, 'node2.crt')), /DNS:node2, IP Address:10\.0\.0\.6/);
    execFileSync('openssl', [
      'verify',
      '-CAfile',
      join(tls, 'ca.crt'),
      join(tls, 'node1.crt'),
      join(tls, 'node2.crt'),
      join(tls, 'client.crt'),
    ]);
    assert.match(run.err(), /--tls-dir .* --node-name NODE {2}\(NODE: node1, node2\)/);
    const both = runCli(['certs', 'init', tls, '--node', 'node1=10.0.0.5', '--host', 'x']);
    assert.equal(await both.exit, 2);
    assert.match(both.err(), /--host and --node cannot be combined/);
  });

  it('names both files when a certificate and a key do not belong together, and a file that is not PEM', async () => {
    const a = join(dir, 'a'),
      b = join(dir, 'b');
    for (const d of [a, b]) assert.equal(await runCli(['certs', 'init', d, '--host', '127.0.0.1']).exit, 0);
    const agent = (cert: string, key: string) =>
      runCli(['agent', '--listen', '127.0.0.1:0', '--tls-cert', cert, '--tls-key', key, '--tls-ca', join(a, 'ca.crt')]);
    const mismatch = agent(join(a, 'agent.crt'), join(b, 'agent.key'));
    assert.equal(await mismatch.exit, 4);
    assert.match(
      mismatch.err(),
      new RegExp(
        `^CNSPECT_TLS: the agent: the certificate ${a}/agent\\.crt and the key ${b}/agent\\.key do not belong together`,
      ),
    );
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello\n');
    const garbage = agent(join(a, 'agent.crt'), notPem);
    assert.equal(await garbage.exit, 4);
    assert.match(garbage.err(), new RegExp(`^CNSPECT_TLS: the agent: ${notPem} is not a PEM private key`));
    assert.doesNotMatch(garbage.err() + mismatch.err(), /PEM routines|CNSPECT_INTERNAL/);
  });

  // A real unprivileged process: the modules are loaded as root, then the process drops to nobody
  // and runs the CLI (the checkout may not be readable by nobody).
  const asNobody = (argv: string[]): Promise<{ code: number | null; err: string }> => {
    const main = new URL('../src/cli/main.js', import.meta.url).href;
    const preload = ['../src/agent/local.js', '../src/cli/agent.js', '../src/lab/lab.js'].map(
      (m) => new URL(m, import.meta.url).href,
    );
    const script = `const { main } = await import(${JSON.stringify(main)});
      for (const m of ${JSON.stringify(preload)}) await import(m);
      process.setgroups([]); process.setgid(${NOBODY}); process.setuid(${NOBODY});
      process.exitCode = await main(${JSON.stringify(argv)});`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, CNSPECT_RUN_DIR: dir },
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, err })));
  };

  it('says "run as root" when not root, before any tool fails', async () => {
    for (const [argv, what] of [
      [['capture', 'local', '-d', '1'], 'capture local'],
      [['lab', 'up', '--name', 'nobody'], 'lab up'],
    ] as const) {
      const r = await asNobody([...argv]);
      assert.equal(r.code, 3, r.err);
      assert.match(r.err, new RegExp(`^CNSPECT_PERMISSION: ${what} needs root \\(running as uid ${NOBODY}\\)`), r.err);
      assert.match(r.err, /run as root/);
      assert.doesNotMatch(r.err, /EACCES|TOOL_FAILED| {4}at /);
    }
    const agentDir = join(dir, 'agent-tls');
    assert.equal(await runCli(['certs', 'init', agentDir, '--host', '127.0.0.1']).exit, 0);
    const tlsArgs = [
      '--tls-cert',
      join(agentDir, 'agent.crt'),
      '--tls-key',
      join(agentDir, 'agent.key'),
      '--tls-ca',
      join(agentDir, 'ca.crt'),
    ];
    const r = await asNobody(['agent', '--listen', '127.0.0.1:0', ...tlsArgs]);
    assert.equal(r.code, 3, r.err);
    assert.match(
      r.err,
      new RegExp(`^CNSPECT_PERMISSION: cnspect agent needs root \\(running as uid ${NOBODY}\\)`),
      r.err,
    );
  });
});
