// UDP flood for the live benchmark: COUNT 64-byte datagrams to HOST:PORT as fast as Node can send.
import dgram from 'node:dgram';
const [host, port, count] = process.argv.slice(2);
const sock = dgram.createSocket('udp4');
const payload = Buffer.alloc(64, 0x63);
let sent = 0;
const total = Number(count);
function burst() {
  const end = Math.min(total, sent + 2000);
  let pending = end - sent;
  for (; sent < end; ) {
    sent++;
    sock.send(payload, Number(port), host, () => {
      if (--pending === 0) next();
    });
  }
}
function next() {
  if (sent >= total) sock.close();
  else burst();
}
burst();
