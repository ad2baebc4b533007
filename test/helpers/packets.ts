// Hand-built frames for decoder and writer tests (field values chosen to be recognisable).
const hex = (s: string): number[] =>
  s
    .split(/[:.\s]/)
    .filter(Boolean)
    .map((x) => parseInt(x, 16));
const be16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const be32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const ip4 = (s: string): number[] => s.split('.').map(Number);

export const MAC_A = 'aa:bb:cc:00:00:01';
export const MAC_B = 'aa:bb:cc:00:00:02';

export function ether(type: number, payload: number[], vlan?: number): Uint8Array {
  const head = [...hex(MAC_B), ...hex(MAC_A)];
  const tag = vlan === undefined ? [] : [0x81, 0x00, ...be16(vlan)];
  return Uint8Array.from([...head, ...tag, ...be16(type), ...payload]);
}

export function ipv4(proto: number, src: string, dst: string, l4: number[]): number[] {
  return [0x45, 0, ...be16(20 + l4.length), 0, 1, 0x40, 0, 64, proto, 0, 0, ...ip4(src), ...ip4(dst), ...l4];
}

export function ipv6(next: number, l4: number[], extensions: number[] = []): number[] {
  const src = [0xfd, 0, ...new Array(13).fill(0), 1];
  const dst = [0xfd, 0, ...new Array(13).fill(0), 2];
  return [
    0x60,
    0,
    0,
    0,
    ...be16(extensions.length + l4.length),
    extensions.length ? 0 : next,
    64,
    ...src,
    ...dst,
    ...extensions,
    ...l4,
  ];
}

export function tcp(sport: number, dport: number, flags: number, payload = 0): number[] {
  return [
    ...be16(sport),
    ...be16(dport),
    ...be32(1000),
    ...be32(2000),
    0x50,
    flags,
    ...be16(65535),
    0,
    0,
    0,
    0,
    ...new Array(payload).fill(0x61),
  ];
}

export function udp(sport: number, dport: number, payload = 0): number[] {
  return [...be16(sport), ...be16(dport), ...be16(8 + payload), 0, 0, ...new Array(payload).fill(0x62)];
}

export function icmpEcho(type: number, id: number, seq: number): number[] {
  return [type, 0, 0, 0, ...be16(id), ...be16(seq), ...new Array(8).fill(0)];
}

export function arpRequest(sender: string, target: string): number[] {
  return [0, 1, 8, 0, 6, 4, 0, 1, ...hex(MAC_A), ...ip4(sender), 0, 0, 0, 0, 0, 0, ...ip4(target)];
}

/** LINUX_SLL2 header + payload. */
export function sll2(protocol: number, ifindex: number, pkttype: number, payload: number[]): Uint8Array {
  return Uint8Array.from([
    ...be16(protocol),
    0,
    0,
    ...be32(ifindex),
    0,
    1,
    pkttype,
    6,
    ...hex(MAC_A),
    0,
    0,
    ...payload,
  ]);
}

/** LINUX_SLL (v1) header + payload. */
export function sll(protocol: number, pkttype: number, payload: number[]): Uint8Array {
  return Uint8Array.from([...be16(pkttype), 0, 1, 0, 6, ...hex(MAC_A), 0, 0, ...be16(protocol), ...payload]);
}
