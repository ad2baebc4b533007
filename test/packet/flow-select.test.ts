import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from '../../src/packet/decode.js';
import { FlowSelector } from '../../src/packet/flow-select.js';
import { LINKTYPE_ETHERNET } from '../../src/packet/linktype.js';
import { arpRequest, ether, icmpEcho, ipv4, tcp, udp } from '../helpers/packets.js';

const keep = (sel: FlowSelector, frame: Uint8Array, ms: number): boolean =>
  sel.keep(decode(LINKTYPE_ETHERNET, frame), frame, ms);
const A = '10.0.0.1';
const B = '10.0.0.2';

describe('flow selection (--type flow)', () => {
  it('keeps TCP packets with SYN, FIN or RST and nothing else of TCP', () => {
    const sel = new FlowSelector();
    const flags = [0x02, 0x12, 0x10, 0x18, 0x11, 0x10, 0x04, 0x14];
    const kept = flags.map((f) => keep(sel, ether(0x0800, ipv4(6, A, B, tcp(40000, 80, f))), 0));
    assert.deepEqual(kept, [true, true, false, false, true, false, true, true]);
  });

  it('keeps the first UDP packet of a flow (either direction), and again after the idle timeout', () => {
    const sel = new FlowSelector(1000);
    const q = ether(0x0800, ipv4(17, A, B, udp(5353, 53, 10)));
    const r = ether(0x0800, ipv4(17, B, A, udp(53, 5353, 10)));
    const other = ether(0x0800, ipv4(17, A, B, udp(5354, 53, 10)));
    assert.deepEqual(
      [
        keep(sel, q, 0),
        keep(sel, r, 10),
        keep(sel, q, 500),
        keep(sel, other, 600),
        keep(sel, q, 1400),
        keep(sel, q, 2500),
      ],
      [true, false, false, true, false, true],
    );
  });

  it('counts idleness from the last packet seen: exactly the timeout is not idle, one ms more is', () => {
    const sel = new FlowSelector(1000);
    const q = ether(0x0800, ipv4(17, A, B, udp(5353, 53, 10)));
    assert.deepEqual(
      [keep(sel, q, 0), keep(sel, q, 1000), keep(sel, q, 1999), keep(sel, q, 2000), keep(sel, q, 3001)],
      [true, false, false, false, true],
    );
  });

  it('forgets the least recently seen flow when full, and a packet refreshes its flow', () => {
    const sel = new FlowSelector(60_000, 2);
    const flow = (port: number) => ether(0x0800, ipv4(17, A, B, udp(port, 53, 10)));
    assert.deepEqual([keep(sel, flow(1), 0), keep(sel, flow(2), 1)], [true, true]);
    assert.equal(keep(sel, flow(1), 2), false, 'flow 1 seen again: now the most recent');
    assert.equal(keep(sel, flow(3), 3), true, 'a third flow: flow 2, the least recently seen, is forgotten');
    assert.equal(keep(sel, flow(1), 4), false, 'flow 1 is still remembered (it was refreshed)');
    assert.equal(keep(sel, flow(2), 5), true, 'flow 2 was forgotten, so it is new again');
  });

  it('treats each ICMP echo identifier as a flow and ignores ARP', () => {
    const sel = new FlowSelector();
    const req = (id: number, seq: number) => ether(0x0800, ipv4(1, A, B, icmpEcho(8, id, seq)));
    const rep = (id: number, seq: number) => ether(0x0800, ipv4(1, B, A, icmpEcho(0, id, seq)));
    assert.deepEqual(
      [keep(sel, req(7, 1), 0), keep(sel, rep(7, 1), 1), keep(sel, req(7, 2), 2), keep(sel, req(8, 1), 3)],
      [true, false, false, true],
    );
    assert.equal(keep(sel, ether(0x0806, arpRequest(A, B)), 4), false);
  });
});
