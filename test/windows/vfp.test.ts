// VFP: list-rule dumps on the real published outputs; port counters in vfpctrl's documented
// JSON and text shapes (no recorded port-counter output is public); the pod's VFP port and the
// host vNIC chosen by their HNS allocator tags, through the agent with hnsdiag stand-ins.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseVfpPortCountersJson,
  parseVfpPortCountersText,
  parseVfpPortsJson,
  parseVfpRules,
} from '../../src/backends/windows/vfp.js';
import { Agent } from '../../src/agent/agent.js';
import { PktmonBackend } from '../../src/backends/windows/pktmon.js';
import { DatapathSection } from '../../src/gen/cnspect/v1/agent.js';
import { makeStandIns, type StandIns } from '../helpers/standins.js';
import { windowsFixture } from '../helpers/windows-fixtures.js';

describe('vfpctrl parsers', () => {
  it('reads /list-rule groups and rules (real output), and an empty item list', () => {
    const groups = parseVfpRules(windowsFixture('vfpctrl-list-rule/rke2-calico-acl-endpoint-layer.txt'));
    assert.equal(groups.length, 1);
    const g = groups[0]!;
    assert.deepEqual(
      [g.name, g.friendlyName, g.priority, g.direction, g.type, g.conditions],
      ['ACL_ENDPOINT_GROUP_IPV4_IN', 'ACL_ENDPOINT_GROUP_IPV4_IN', 1, 'IN', 'IPv4', []],
    );
    assert.deepEqual(
      g.rules.map((r) => [r.id, r.friendlyName, r.priority, r.type, r.flags, r.conditions]),
      [
        [
          'A2CFF68C-B5F4-4988-841F-0F6F77AF3D09',
          'allow-host-to-endpoint',
          900,
          'allow',
          '8195 terminating stateful',
          ['Source IP : 10.156.233.218'],
        ],
        [
          '0EE8DCA1-9AA8-417C-88E0-422CE9E52CBF',
          'profile-kns.rke2-tcp-reset-test--atbkwj8tPVFG3P1-0',
          1000,
          'allow',
          '8195 terminating stateful',
          [],
        ],
      ],
    );
    assert.deepEqual(parseVfpRules(windowsFixture('vfpctrl-list-rule/flannel-vnet-encap-layer-empty.txt')), []);
    assert.throws(() => parseVfpRules('Error: port not found'), /no "ITEM LIST" header/);
  });

  it('reads port counters in the documented /format 1 JSON and the text sections, and refuses the rest', () => {
    // Fields as documented for /get-port-counter /format 1 (InformationArray.PortCounters[], Direction 0 egress
    // / 1 ingress).
    const dirs = parseVfpPortCountersJson(
      JSON.stringify({
        InformationArray: [
          {
            PortCounters: [
              {
                Direction: 1,
                TotalPackets: 10,
                TotalBytes: 1000,
                DroppedPackets: 1,
                DroppedAcl: 1,
                TcpResetPackets: 0,
              },
              { Direction: 0, TotalPackets: 7, TotalBytes: 700, DroppedPackets: 0, DroppedAcl: 0, TcpResetPackets: 2 },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(
      dirs.map((d) => [d.direction, d.counters.get('TotalPackets'), d.counters.get('DroppedAcl')]),
      [
        ['in', 10, 1],
        ['out', 7, 0],
      ],
    );
    assert.throws(() => parseVfpPortCountersJson('{"InformationArray":{}}'), /no InformationArray.PortCounters/);
    assert.throws(
      () => parseVfpPortCountersJson('{"InformationArray":{"PortCounters":[{"Direction":5,"TotalPackets":1}]}}'),
      /Direction 0 or 1/,
    );
    const text = parseVfpPortCountersText(
      'Direction - OUT\n  Total packets : 7\nDirection - IN\n  Total packets : 10\n  Dropped ACL packets : 1\n',
    );
    assert.deepEqual(
      text.map((d) => [d.direction, d.counters.get('Totalpackets')]),
      [
        ['out', 7],
        ['in', 10],
      ],
    );
    assert.throws(
      () => parseVfpPortCountersText(windowsFixture('vfpctrl-list-rule/flannel-vnet-encap-layer-empty.txt')),
      /no "Direction - IN\/OUT" sections/,
    );
    const ports = parseVfpPortsJson(
      JSON.stringify({
        Ports: [{ Id: 'ExternalPort', Name: 'ACE214FD-4A7C-462A-AF6B-6119010C5BD2', MacAddress: '00155d5186a4' }],
      }),
    );
    assert.deepEqual(ports, [
      { friendlyName: 'ExternalPort', guid: 'ACE214FD-4A7C-462A-AF6B-6119010C5BD2', mac: '00155D5186A4' },
    ]);
    assert.throws(() => parseVfpPortsJson('{"Ports":[{"Id":"x","Name":"not-a-guid; rm"}]}'), /without a GUID Name/);
  });
});

describe('Windows vfp-counter and hns through the agent (hnsdiag stand-in replaying real output)', () => {
  let s: StandIns | undefined;
  afterEach(() => {
    s?.destroy();
    s = undefined;
  });

  it('refuses a pod whose endpoint has no "Endpoint Port" allocator (a remote endpoint), naming it', async () => {
    s = makeStandIns();
    const agent = new Agent(new PktmonBackend(s.tools), undefined, 'win-node');
    await assert.rejects(
      agent.portCounters({ namespace: 'default', name: 'web', ips: ['10.244.2.141'] }, false),
      (err: Error & { code?: string }) =>
        err.code === 'CNSPECT_POD_NOT_FOUND' &&
        /8f109901-9970-4fda-bb2b-e9882fb3e8fb/.test(err.message) &&
        /remote endpoint/.test(err.message),
    );
    await assert.rejects(
      agent.portCounters({ namespace: 'default', name: 'gone', ips: ['10.1.1.1'] }, false),
      /no HNS endpoint on win-node/,
    );
    assert.ok(
      s.calls().every((c) => c[0] === 'hnsdiag'),
      'vfpctrl never ran with a value HNS did not give',
    );
  });

  it('reads HNS endpoints, networks and load balancers into the shared schema with the raw JSON beside', async () => {
    s = makeStandIns();
    const agent = new Agent(new PktmonBackend(s.tools), undefined, 'win-node');
    const all = await agent.datapath(DatapathSection.DATAPATH_SECTION_ALL);
    assert.equal(all.os, 'windows');
    assert.deepEqual(
      all.endpoints.map((e) => [e.name, e.ips, e.network]),
      [['remote_10.244.2.141', ['10.244.2.141'], 'vxlan0']],
    );
    assert.deepEqual(
      all.networks.map((n) => [n.type, n.subnets]),
      [
        ['nat', ['172.21.16.0/20']],
        ['nat', ['192.168.0.0/22']],
      ],
    );
    assert.equal(all.loadBalancers.length, 8);
    assert.equal(all.loadBalancers[1]!.vip, '10.96.0.10');
    const raw = JSON.parse(all.rawJson) as {
      endpoints: Array<{ ID: string }>;
      networks: Array<{ Resources: { Allocators: Array<{ Tag: string; EndpointPortGuid?: string }> } }>;
    };
    assert.equal(raw.endpoints[0]!.ID, '8f109901-9970-4fda-bb2b-e9882fb3e8fb');
    assert.equal(
      raw.networks[0]!.Resources.Allocators.find((a) => a.Tag === 'Host Vnic')!.EndpointPortGuid,
      'ACE214FD-4A7C-462A-AF6B-6119010C5BD2',
    );
    const lbOnly = await agent.datapath(DatapathSection.DATAPATH_SECTION_LOADBALANCERS);
    assert.deepEqual([lbOnly.endpoints.length, lbOnly.loadBalancers.length], [0, 8]);
    assert.deepEqual(
      s
        .calls()
        .map((c) => c.join(' '))
        .sort(),
      [
        'hnsdiag list endpoints -d',
        'hnsdiag list endpoints -d',
        'hnsdiag list loadbalancers',
        'hnsdiag list loadbalancers',
        'hnsdiag list networks -d',
        'hnsdiag list networks -d',
      ],
    );
  });
});
