/**
 * The bare B2BUA of the benchmarks: every INVITE bridged to one far end with drachtio-srf's
 * createB2BUA, a BYE on either leg ends the other, nothing else (no admission, money or CDR).
 * npm run bench:edge runs it in its own process; npm run bench runs it as a process of its own
 *   node dist/test/bench/bare-b2bua.js <control port> <secret> <far-end URI>
 * which prints `{"ready":true}` once connected, so its CPU is metered apart from the benchmark's.
 */
import Srf from 'drachtio-srf';

/** Bridges every INVITE that reaches `srf` to `calleeUri`. */
export function bridgeEveryCall(srf: Srf, calleeUri: string): void {
  srf.invite((req, res) => {
    srf.createB2BUA(req, res, calleeUri, { localSdpB: req.body })
      .then(({ uas, uac }) => {
        (uas as unknown as NodeJS.EventEmitter).on('destroy', () => { void uac.destroy(); });
        (uac as unknown as NodeJS.EventEmitter).on('destroy', () => { void uas.destroy(); });
      }, () => undefined);
  });
}

/** A bare B2BUA connected to the edge (or drachtio-server) at 127.0.0.1:controlPort. */
export async function connectBareB2bua(controlPort: number, secret: string, calleeUri: string): Promise<Srf> {
  const srf = new Srf();
  bridgeEveryCall(srf, calleeUri);
  await new Promise<void>((resolve, reject) => {
    srf.on('connect', (err) => (err ? reject(err) : resolve()));
    srf.connect({ host: '127.0.0.1', port: controlPort, secret } as Srf.SrfConfig);
  });
  return srf;
}

if (require.main === module) {
  const [port, secret, callee] = process.argv.slice(2);
  connectBareB2bua(Number(port), secret ?? '', callee ?? '').then((srf) => {
    process.stdout.write(JSON.stringify({ ready: true }) + '\n');
    process.on('SIGTERM', () => { srf.disconnect(); process.exit(0); });
  }, (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
