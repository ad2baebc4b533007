// Pure parsers of Linux readings, fed with this machine's own real outputs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseProcNetCounters, POD_COUNTERS, selectPodCounters } from '../../src/backends/linux/snmp.js';
import { nodeNic, parseIpLinkJson, parseNetnsListId } from '../../src/backends/linux/netns.js';
import { parseRouteGetDevice } from '../../src/backends/linux/pods.js';
import { sh } from '../helpers/netns.js';

describe('Linux parsers on real outputs', () => {
  it('reads /proc/net/snmp and /proc/net/netstat into counters and picks the pod ones', () => {
    const snmp = parseProcNetCounters(readFileSync('/proc/net/snmp', 'utf8'));
    const netstat = parseProcNetCounters(readFileSync('/proc/net/netstat', 'utf8'));
    assert.ok(snmp.some((c) => c.group === 'Udp' && c.name === 'NoPorts' && Number.isInteger(c.value)));
    assert.ok(netstat.some((c) => c.group === 'TcpExt' && c.name === 'ListenDrops'));
    const picked = selectPodCounters([...snmp, ...netstat]);
    // Every counter of the selection exists on Linux since 2.6 (TcpExt since 2.6.x): all of them, in order.
    assert.deepEqual(
      picked.map((c) => [c.group, c.name]),
      POD_COUNTERS.map(([g, n]) => [g, n]),
    );
    assert.throws(() => parseProcNetCounters('Ip: a b\nTcp: 1 2\n'), { code: 'CNSPECT_TOOL_FAILED' });
  });

  it('reads link kinds, bridge masters and the node NIC from `ip -d -j addr`', () => {
    const links = parseIpLinkJson(sh(['ip', '-d', '-j', 'addr', 'show']));
    assert.equal(links.find((l) => l.name === 'lo')?.kind, '');
    assert.equal(
      nodeNic([
        {
          index: 2,
          name: 'br0',
          mac: '',
          linkType: 'ether',
          up: true,
          peerIndex: undefined,
          peerNsid: undefined,
          addresses: ['10.0.0.1'],
          kind: 'bridge',
          master: undefined,
        },
        {
          index: 3,
          name: 'ens5',
          mac: '',
          linkType: 'ether',
          up: true,
          peerIndex: undefined,
          peerNsid: undefined,
          addresses: ['10.1.0.5'],
          kind: '',
          master: undefined,
        },
      ])?.name,
      'ens5',
    );
  });

  it('reads `ip -j netns list-id` and `ip -j route get`', () => {
    assert.deepEqual(
      [...parseNetnsListId('[{"nsid":0,"name":"lab-sw"},{"nsid":1,"name":"lab-pod-1-1"},{"nsid":2}]')],
      [
        [0, 'lab-sw'],
        [1, 'lab-pod-1-1'],
      ],
    );
    assert.equal(
      parseRouteGetDevice(sh(['ip', '-j', 'route', 'get', '127.0.0.1'])),
      undefined,
      'a local address has no device to leave through',
    );
    assert.equal(
      parseRouteGetDevice(
        JSON.stringify([
          {
            dst: '10.244.2.11',
            gateway: '198.18.1.12',
            dev: 'eth0',
            prefsrc: '198.18.1.11',
            flags: [],
            uid: 0,
            cache: [],
          },
        ]),
      ),
      'eth0',
    );
  });
});

describe('datapath parsers', async () => {
  const { parseCniConfig, parseNftLoadBalancers } = await import('../../src/backends/linux/datapath.js');
  it('reads a bridge CNI configuration list (host-local IPAM ranges)', () => {
    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'cbr0',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24', gateway: '10.244.1.1' }]] },
        },
        { type: 'portmap' },
      ],
    });
    assert.deepEqual(parseCniConfig('/etc/cni/net.d/10-bridge.conflist', conf), {
      name: 'cbr0',
      type: 'cni:bridge',
      subnets: ['10.244.1.0/24'],
      gateways: [],
      interfaces: ['cni0'],
      vni: 0,
      cniConfigPath: '/etc/cni/net.d/10-bridge.conflist',
    });
    assert.equal(parseCniConfig('/x', 'not json'), undefined);
  });
  it('finds no load balancer in an empty ruleset and refuses non-JSON', () => {
    assert.deepEqual(parseNftLoadBalancers('{"nftables":[{"metainfo":{"version":"1.0.6"}}]}'), []);
    assert.throws(() => parseNftLoadBalancers('table ip x {}'), { code: 'CNSPECT_TOOL_FAILED' });
  });
});
