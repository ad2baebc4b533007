// Flag rules, pinned from an argv: every bad value gets its own specific error and exit code 2,
// before anything is captured.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planCapture } from '../src/cli/capture.js';
import { expandNot, parseCaptureType, parseDurationSeconds, parseSize } from '../src/cli/flags.js';
import { CaptureType, Protocol, TcpFlag } from '../src/gen/cnspect/v1/agent.js';
import { runCli } from './helpers/cli.js';

describe('capture flags', () => {
  it('accepts ICMPv6 in any case and TCP flag combinations', () => {
    const plan = planCapture('local', undefined, {
      protocols: ['ICMPv6,icmpv6', 'tcp_syn_ack'],
      ips: ['10.0.0.1', 'FD00::/64'],
      ports: ['53', '8000-8080'],
      macs: ['AA-BB-CC-DD-EE-FF', 'aabb.ccdd.eeff'],
    });
    assert.deepEqual(plan.request.filter, {
      cidrs: ['10.0.0.1', 'fd00::/64'],
      macs: ['aa:bb:cc:dd:ee:ff'],
      ports: [
        { first: 53, last: 53 },
        { first: 8000, last: 8080 },
      ],
      protocols: [
        { protocol: Protocol.PROTOCOL_ICMPV6, tcpFlags: [] },
        { protocol: Protocol.PROTOCOL_ICMPV6, tcpFlags: [] },
        { protocol: Protocol.PROTOCOL_TCP, tcpFlags: [TcpFlag.TCP_FLAG_SYN, TcpFlag.TCP_FLAG_ACK] },
      ],
      exclude: [],
    });
  });

  it('turns each --not into an exclusion of its own (Hubble-style, every spelling)', () => {
    const argv = expandNot([
      'capture',
      'local',
      '--not',
      '-r',
      '22,23',
      '--not',
      '--ips=10.0.0.0/8',
      '--not',
      '-tUDP',
      '-i',
      '10.1.1.1',
      '--',
      '--not',
    ]);
    assert.deepEqual(argv, [
      'capture',
      'local',
      '--not-ports',
      '22,23',
      '--not-ips',
      '10.0.0.0/8',
      '--not-protocols',
      'UDP',
      '-i',
      '10.1.1.1',
      '--',
      '--not',
    ]);
    const plan = planCapture('local', undefined, {
      ips: ['10.1.1.1'],
      notPorts: ['22,23'],
      notIps: ['10.0.0.0/8'],
      notProtocols: ['UDP'],
    });
    const none = { cidrs: [], macs: [], ports: [], protocols: [], exclude: [] };
    assert.deepEqual(plan.request.filter!.exclude, [
      { ...none, cidrs: ['10.0.0.0/8'] },
      {
        ...none,
        ports: [
          { first: 22, last: 22 },
          { first: 23, last: 23 },
        ],
      },
      { ...none, protocols: [{ protocol: Protocol.PROTOCOL_UDP, tcpFlags: [] }] },
    ]);
    assert.equal(plan.request.includeSelf, false);
    assert.equal(planCapture('local', undefined, { includeSelf: true }).request.includeSelf, true);
    assert.throws(
      () => expandNot(['capture', 'local', '--not']),
      /--not: "\(nothing after it\)"; allowed: a filter flag right after it/,
    );
    assert.throws(
      () => expandNot(['capture', 'local', '--not', '-d', '5']),
      /--not: "-d"; allowed: a filter flag right after it/,
    );
    assert.throws(() => expandNot(['capture', 'local', '--not', '--not', '-r', '1']), /--not: "--not"/);
    assert.throws(() => planCapture('local', undefined, { notPorts: ['99999'] }), /--not --ports: "99999"/);
  });

  it('reads --type case-insensitively (wcnspect turned DROP into all)', () => {
    assert.equal(parseCaptureType('DROP'), CaptureType.CAPTURE_TYPE_DROP);
    assert.equal(parseCaptureType('Flow'), CaptureType.CAPTURE_TYPE_FLOW);
    assert.equal(parseCaptureType('all'), CaptureType.CAPTURE_TYPE_ALL);
  });

  it('converts durations and sizes', () => {
    assert.equal(parseDurationSeconds('0'), 0);
    assert.equal(parseDurationSeconds('2.5'), 2500);
    assert.equal(parseSize('10M', '--max-bytes'), 10 * 1024 * 1024);
    assert.equal(parseSize('1000', '--max-bytes'), 1000);
  });

  const bad: Array<[string[], RegExp]> = [
    [['-i', '10.0.0.300'], /--ips: "10\.0\.0\.300"; allowed: an IPv4 or IPv6 address/],
    [['-i', '10.0.0.0/33'], /--ips: "10\.0\.0\.0\/33"; allowed: a prefix length from 0 to 32/],
    [['-i', '10.0.0.1,'], /--ips: "10\.0\.0\.1,"; allowed: a comma-separated list with no empty items/],
    [['-m', 'aa:bb:cc:dd:ee'], /--macs: "aa:bb:cc:dd:ee"; allowed: a MAC address/],
    [['-r', '70000'], /--ports: "70000"; allowed: a port number 1-65535/],
    [['-r', '0'], /--ports: "0"; allowed: a port number 1-65535/],
    [['-r', '0-80'], /--ports: "0-80"; allowed: a port number 1-65535/],
    [
      ['-i', '10.244.1.7/24'],
      /--ips: "10\.244\.1\.7\/24"; allowed: a network address for \/24 \(host bits zero\): did you mean 10\.244\.1\.0/,
    ],
    [['-i', '10.0.0.1/31'], /did you mean 10\.0\.0\.0\/31\?/],
    [['-i', 'fd00::1:2/64'], /--ips: "fd00::1:2\/64"; .*did you mean fd00::\/64\?/],
    [['-i', '2001:db8:0:0:1::/63'], /did you mean 2001:db8::\/63\?/],
    [['--not', '-i', '10.1.2.3/8'], /--not --ips: "10\.1\.2\.3\/8"; .*did you mean 10\.0\.0\.0\/8\?/],
    [
      ['--inventory', 'lab.yaml'],
      /capture local captures on this host through no agent or cluster: --inventory cannot be used with it/,
    ],
    [['--in-pod'], /capture local captures on this host .*: --in-pod cannot be used with it/],
    [['--kubeconfig', 'k', '--transport', 'direct'], /: --kubeconfig, --transport cannot be used with it/],
    [['--max-packets', '0'], /--max-packets: "0"/],
    [['-r', '90-80'], /--ports: "90-80"/],
    [['-t', 'SCTP'], /--protocols: "SCTP"; allowed: TCP, UDP, ICMP, ICMPv6/],
    [['-t', 'UDP_SYN'], /--protocols: "UDP_SYN"/],
    [['-t', 'TCP_XMAS'], /--protocols: "TCP_XMAS"/],
    [['--type', 'some'], /--type: "some"; allowed: all, flow or drop/],
    [['-d', '-1'], /--time: "-1"; allowed: a number of seconds >= 0/],
    [['-d', 'ten'], /--time: "ten"/],
    [['--snaplen', '10'], /--snaplen: "10"; allowed: a whole number from 64 to 262144/],
    [['--max-bytes', '5X'], /--max-bytes: "5X"/],
    [['-o', 'yaml'], /--output: "yaml"; allowed: text, json/],
    [['--netns', '../x'], /--netns: "\.\.\/x"/],
    [['--counters-only', '-w', 'x.pcapng'], /--counters-only captures no packets/],
  ];
  for (const [args, message] of bad) {
    it(`refuses ${args.join(' ')} with a specific message and exit code 2`, async () => {
      const run = runCli(['capture', 'local', ...args]);
      assert.equal(await run.exit, 2);
      assert.match(run.err(), message);
      assert.match(run.err(), /^CNSPECT_BAD_FLAG: /);
    });
  }

  it('accepts a CIDR whose host bits are zero, in either family', () => {
    const plan = planCapture('local', undefined, { ips: ['10.244.1.0/24,0.0.0.0/0,fd00::/64,::/0,10.0.0.1/32'] });
    assert.deepEqual(plan.request.filter!.cidrs, ['10.244.1.0/24', '0.0.0.0/0', 'fd00::/64', '::/0', '10.0.0.1/32']);
  });

  const badTargets: Array<[string[], RegExp]> = [
    [['capture', 'pods', 'a,,b'], /capture pods: "a,,b"; allowed: a comma-separated list with no empty items/],
    [['capture', 'nodes', 'n1,'], /capture nodes: "n1,"; allowed: a comma-separated list with no empty items/],
    [['capture', 'nodes', ''], /capture nodes: ""; allowed: one or more comma-separated node names/],
    [
      ['capture', 'all', '--in-pod', '--inventory', 'x.yaml'],
      /--in-pod captures inside pods: it needs `capture pods`, not `capture all`/,
    ],
    [
      ['counter', '-n', 'a,,b', '--inventory', '/nonexistent.yaml'],
      /--nodes: "a,,b"; allowed: a comma-separated list with no empty items/,
    ],
    [
      ['hns', 'endpoints', '-n', ',', '--inventory', '/nonexistent.yaml'],
      /--nodes: ","; allowed: a comma-separated list with no empty items/,
    ],
    [
      ['deploy', '--dry-run', '--nodes', 'n1,,n2'],
      /--nodes: "n1,,n2"; allowed: a comma-separated list with no empty items/,
    ],
    [
      ['certs', 'init', '/tmp/never-made', '--host', 'a,,b'],
      /--host: "a,,b"; allowed: a comma-separated list with no empty items/,
    ],
    [['certs', 'init', '/tmp/never-made', '--node', 'n1=10.0.0.1,'], /--node: "n1=10\.0\.0\.1,"; allowed: NAME=HOST/],
    [['certs', 'init', '/tmp/never-made', '--node', 'n1'], /--node: "n1"; allowed: NAME=HOST/],
  ];
  for (const [argv, message] of badTargets) {
    it(`refuses ${argv.join(' ')} before reaching anything, exit 2`, async () => {
      const run = runCli(argv);
      assert.equal(await run.exit, 2);
      assert.match(run.err(), /^CNSPECT_BAD_FLAG: /);
      assert.match(run.err(), message);
    });
  }

  it('refuses an unknown target and says which exist', async () => {
    const run = runCli(['capture', 'everywhere']);
    assert.equal(await run.exit, 2);
    assert.match(run.err(), /capture target: "everywhere"; allowed: local, all, nodes, pods/);
  });

  it('refuses filters drop records cannot carry, before capturing', async () => {
    const run = runCli(['capture', 'local', '--type', 'DROP', '-m', 'aa:bb:cc:dd:ee:ff', '-d', '1']);
    assert.equal(await run.exit, 2);
    assert.match(run.err(), /CNSPECT_FILTER_UNSUPPORTED: drop records carry no MAC addresses/);
  });

  it('prints help with no cluster or agent', async () => {
    const run = runCli(['capture', '--help']);
    assert.equal(await run.exit, 0);
    assert.match(run.out(), /-t, --protocols/);
    assert.match(run.out(), /ICMPv6/);
  });
});
