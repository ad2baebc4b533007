// HNS state into the shared datapath schema, on the real published outputs.
import { windowsFixture } from '../helpers/windows-fixtures.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  endpointFromFormatList,
  endpointFromHns,
  hnsObjects,
  loadBalancersFromHnsdiag,
  networkFromHns,
  parseConcatenatedJson,
  parseFormatList,
} from '../../src/backends/windows/hns-parse.js';

const fixture = windowsFixture;

describe('HNS parsers (real outputs)', () => {
  it('reads an HNS endpoint (ConvertTo-Json) into the shared endpoint schema', () => {
    const [ep] = hnsObjects(parseConcatenatedJson(fixture('hns-endpoint/flannel-remote-endpoint-convertto-json.json')));
    assert.deepEqual(endpointFromHns(ep!), {
      name: 'remote_10.244.2.141',
      ips: ['10.244.2.141'],
      mac: '0e:2a:0a:f4:02:8d',
      hostInterface: '',
      netns: '',
      network: 'vxlan0',
    });
  });

  it('reads concatenated HNS responses (hnsdiag style) into networks', () => {
    const text = fixture('hns-network/docker-netrestore-hns-v1-create-response.txt');
    const nets = hnsObjects(parseConcatenatedJson(text)).map(networkFromHns);
    assert.deepEqual(
      nets.map((n) => [n.type, n.subnets, n.gateways]),
      [
        ['nat', ['172.21.16.0/20'], ['172.21.16.1']],
        ['nat', ['192.168.0.0/22'], ['192.168.0.1']],
      ],
    );
    assert.equal(nets[0]!.name, '82cb42b9d3bfbe5847c3736cac7494d9915e474a7d1a3c5068a0d35938456f72');
  });

  it('reads PowerShell Format-List endpoints, nested @{…} included', () => {
    const [r] = parseFormatList(fixture('hns-endpoint/rke2-calico-get-hnsendpoint-format-list.txt'));
    assert.deepEqual(endpointFromFormatList(r!), {
      name: '4a625a2b10a33b0dea96fe8743fb8e13504481ee9f481d179f8e75b8c98611d2_Calico',
      ips: ['10.42.213.221'],
      mac: '0e:2a:0a:2a:d5:dd',
      hostInterface: '',
      netns: '4ea04396-a6e5-478f-915e-909b8c80b2ef',
      network: 'Calico',
    });
    assert.equal(r!.PrefixLength, '26');
    const [net] = parseFormatList(fixture('hns-network/sig-windows-tools-103-get-hnsnetwork-nat.txt'));
    assert.equal(net!.Name, 'nat');
    assert.match(net!.Extensions!, /Microsoft NDIS Capture\}\}$/, 'continuation lines are joined');
  });

  it('reads the hnsdiag load balancer table and resolves backends through endpoints', () => {
    const lbs = loadBalancersFromHnsdiag(
      fixture('hnsdiag/flannel-hnsdiag-list-loadbalancers.txt'),
      new Map([
        ['11fcf2c4-30ff-42bb-bb29-56a0d0612582', ['10.244.1.5']],
        ['bdf93f5a-26b4-4c38-86c6-782f20ffed40', ['10.244.2.7']],
      ]),
    );
    assert.equal(lbs.length, 8);
    assert.deepEqual(lbs[1], {
      id: '3c89c920-c65a-4c81-a1de-056fe4097e95',
      vip: '10.96.0.10',
      port: 0,
      protocol: '',
      source: 'hns',
      endpointIds: ['11fcf2c4-30ff-42bb-bb29-56a0d0612582', 'bdf93f5a-26b4-4c38-86c6-782f20ffed40'],
      backends: [
        { ip: '10.244.1.5', port: 0 },
        { ip: '10.244.2.7', port: 0 },
      ],
    });
    assert.equal(lbs[0]!.vip, '', 'a load balancer without a VIP (node port) keeps an empty VIP');
  });

  it('fails clearly on truncated or unknown input', () => {
    const text = fixture('hns-endpoint/flannel-remote-endpoint-convertto-json.json');
    assert.throws(() => parseConcatenatedJson(text.slice(0, text.length / 2)), /truncated JSON/);
    assert.throws(
      () => loadBalancersFromHnsdiag('Name | Something\nx | y'),
      /must start with "ID \| Virtual IPs \| Direct IP IDs"/,
    );
    assert.throws(() => endpointFromHns({ Name: 'x' }), /an endpoint without ID/);
    assert.throws(() => parseFormatList('this is not a list'), /is not "Key : value"/);
  });
});
