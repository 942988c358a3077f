import dgram from 'node:dgram';
import net from 'node:net';

/**
 * A port that is free right now on 127.0.0.1 for the given kind (the OS picks it; tests running
 * side by side never collide on a fixed number). For 'both', free for UDP and TCP at once.
 */
export async function freePort(kind: 'udp' | 'tcp' | 'both' = 'tcp', host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = kind === 'udp' ? await freeUdp(host) : await freeTcp(host);
    if (kind !== 'both') return port;
    if (await udpFree(port, host)) return port;
  }
  throw new Error('no free port found');
}

function freeTcp(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function freeUdp(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.once('error', reject);
    s.bind(0, host, () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

function udpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.once('error', () => resolve(false));
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}
