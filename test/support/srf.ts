import type Srf from 'drachtio-srf';

/** Connects a drachtio-srf application to an edge on loopback; rejects on a refused secret. */
export function connectApp(srf: Srf, port: number, secret: string): Promise<void> {
  return new Promise((resolve, reject) => {
    srf.on('connect', (err) => (err ? reject(err) : resolve()));
    srf.on('error', reject);
    srf.connect({ host: '127.0.0.1', port, secret });
  });
}
