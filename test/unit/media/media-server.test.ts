import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import Srf from 'drachtio-srf';
import { Registry } from 'prom-client';
import winston from 'winston';
import { FreeswitchMediaServer, profileAddress, type Endpoint, type MediaServerSettings } from '../../../app/media/media-server';
import { MediaService } from '../../../app/media/call-media';
import { MediaMetrics } from '../../../app/media/metrics';
import { EventEmitter } from 'node:events';
import { connectOutbound, FakeEventSocket, sofiaStatus, until } from './fake-event-socket';

function capturingLogger(): { logger: winston.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ objectMode: true, write(info: Record<string, unknown>, _enc, done) { lines.push(info); done(); } });
  return { logger: winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] }), lines };
}

const SECRET = 'ClueCon-test';

function settings(port: number, over: Partial<MediaServerSettings> = {}): MediaServerSettings {
  return {
    address: '127.0.0.1', port, secret: SECRET, profile: 'drachtio_mrf', sipAddress: null,
    listenAddress: '127.0.0.1', listenPort: 0, advertisedAddress: null, reconnect: { minSeconds: 0.05, maxSeconds: 0.2 }, healthCheckSeconds: 0.2, ...over,
  };
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).find((x) => Object.entries(labels).every(([k, val]) => String(x.labels[k]) === val));
  return v?.value ?? 0;
}

describe('media server adapter (drachtio-fsmrf over a fake FreeSWITCH event socket)', function () {
  this.timeout(15_000);
  let fake: FakeEventSocket;
  let server: FreeswitchMediaServer | undefined;
  let apiAnswer: (cmd: string) => string;

  beforeEach(async () => {
    apiAnswer = (cmd) => (cmd === 'sofia status' ? sofiaStatus('drachtio_mrf', '127.0.0.1:5080') : '-ERR no such command\n');
    fake = new FakeEventSocket(SECRET, (cmd) => apiAnswer(cmd));
    await fake.start();
  });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    await fake.stop();
  });

  it('reads the profile address from sofia status, and only that profile', () => {
    const status = sofiaStatus('internal', '10.0.0.1:5060') + sofiaStatus('drachtio_mrf', '127.0.0.1:5080');
    assert.equal(profileAddress(status, 'drachtio_mrf'), '127.0.0.1:5080');
    assert.equal(profileAddress(status, 'internal'), '10.0.0.1:5060');
    assert.equal(profileAddress(status, 'drachtio'), undefined);
  });

  it('authenticates with the secret, finds the sofia profile and reports itself up', async () => {
    const { logger } = capturingLogger();
    server = new FreeswitchMediaServer(new Srf(), settings(fake.port), logger);
    let ups = 0;
    server.on('up', () => ups++);
    server.start();
    await until('media server up', () => server!.isUp);
    assert.equal(ups, 1);
    assert.equal(server.sipAddress, '127.0.0.1:5080');
    assert.ok(fake.commands.includes(`auth ${SECRET}`), `commands: ${fake.commands.join(' | ')}`);
    assert.ok(fake.commands.includes('api sofia status'));
  });

  it('uses the configured SIP address over the one sofia status shows', async () => {
    server = new FreeswitchMediaServer(new Srf(), settings(fake.port, { sipAddress: '192.0.2.7:5080' }), capturingLogger().logger);
    server.start();
    await until('media server up', () => server!.isUp);
    assert.equal(server.sipAddress, '192.0.2.7:5080');
  });

  it('a wrong secret never makes it up: logged once, retried with back-off', async () => {
    const { logger, lines } = capturingLogger();
    fake.secret = 'something else';
    server = new FreeswitchMediaServer(new Srf(), settings(fake.port), logger);
    server.start();
    await until('three attempts', () => fake.connections >= 3);
    assert.equal(server.isUp, false);
    const warnings = lines.filter((l) => l.level === 'warn' && /media server unavailable/.test(String(l.message)));
    assert.equal(warnings.length, 1, JSON.stringify(lines.map((l) => l.message)));
    await assert.rejects(server.createEndpoint('v=0'), /not connected/);
  });

  it('a missing sofia profile is named, and the server is not used', async () => {
    const { logger, lines } = capturingLogger();
    apiAnswer = (cmd) => (cmd === 'sofia status' ? sofiaStatus('internal', '127.0.0.1:5060') : '-ERR\n');
    server = new FreeswitchMediaServer(new Srf(), settings(fake.port), logger);
    server.start();
    await until('a failed attempt', () => lines.some((l) => l.level === 'warn'));
    assert.equal(server.isUp, false);
    assert.match(String(lines.find((l) => l.level === 'warn')!.why), /sofia profile "drachtio_mrf" not found/);
  });

  it('a listen address that is not this host\'s is named, and does not take the process down', async () => {
    const { logger, lines } = capturingLogger();
    server = new FreeswitchMediaServer(new Srf(), settings(fake.port, { listenAddress: '192.0.2.1' }), logger);
    server.start();
    await until('a failed attempt', () => lines.some((l) => l.level === 'warn'));
    assert.equal(server.isUp, false);
    assert.match(String(lines.find((l) => l.level === 'warn')!.why), /cannot listen for FreeSWITCH's outbound connections on 192\.0\.2\.1:0/);
  });

  it('a lost event socket is reported down, and the server is picked up again when it returns', async () => {
    const { logger, lines } = capturingLogger();
    const registry = new Registry();
    const metrics = new MediaMetrics(registry);
    server = new FreeswitchMediaServer(new Srf(), settings(fake.port), logger);
    server.on('up', () => metrics.serverUp(true));
    server.on('down', () => metrics.serverUp(false));
    server.start();
    await until('up', () => server!.isUp);
    assert.equal(await metricValue(registry, 'tollgate_media_server_up'), 1);
    const port = fake.port;
    await fake.stop();
    await until('down', () => !server!.isUp);
    assert.equal(await metricValue(registry, 'tollgate_media_server_up'), 0);
    assert.equal(lines.filter((l) => /media server lost/.test(String(l.message))).length, 1);
    await fake.start(port);
    await until('up again', () => server!.isUp, 5000);
    assert.equal(await metricValue(registry, 'tollgate_media_server_up'), 1);
  });

  it('a media server that stops answering (socket still open) is taken as lost', async () => {
    const { logger, lines } = capturingLogger();
    server = new FreeswitchMediaServer(new Srf(), settings(fake.port), logger);
    server.start();
    await until('up', () => server!.isUp);
    await until('health checks answered', () => fake.commands.filter((c) => c === 'api status').length >= 2);
    assert.equal(server.isUp, true);
    fake.hang = true;
    await until('down', () => !server!.isUp, 3000);
    assert.match(String(lines.find((l) => /media server lost/.test(String(l.message)))!.why), /no answer to status/);
  });

  it('an endpoint is an INVITE to the sofia profile, answered by FreeSWITCH connecting back to the advertised outbound socket', async () => {
    const invites: Array<{ uri: string; headers: Record<string, string>; localSdp?: string }> = [];
    const outbound: Array<Awaited<ReturnType<typeof connectOutbound>>> = [];
    // The SIP side as drachtio-srf shows it: FreeSWITCH answers the INVITE, then its dialplan runs `socket`.
    const srf = {
      createUAC: async (uri: string, opts: { headers: Record<string, string>; localSdp?: string }) => {
        invites.push({ uri, ...opts });
        setImmediate(() => void connectOutbound(opts.headers['X-esl-outbound']!, {
          'Unique-ID': '7f3c-0001', 'Channel-Unique-ID': '7f3c-0001', 'variable_sip_user_agent': opts.headers['User-Agent']!,
          'variable_rtp_local_sdp_str': 'v=0\r\no=FreeSWITCH 1 1 IN IP4 127.0.0.1\r\nm=audio 24000 RTP/AVP 0\r\n',
        }).then((o) => outbound.push(o)));
        return new EventEmitter();
      },
    } as unknown as Srf;
    server = new FreeswitchMediaServer(srf, settings(fake.port, { advertisedAddress: '127.0.0.1' }), capturingLogger().logger);
    server.start();
    await until('up', () => server!.isUp);
    try {
      const ep = await server.createEndpoint('v=0 caller offer');
      assert.equal(invites.length, 1);
      assert.equal(invites[0]!.uri, 'sip:drachtio@127.0.0.1:5080', 'sent to the profile sofia status named');
      assert.equal(invites[0]!.localSdp, 'v=0 caller offer');
      assert.match(invites[0]!.headers['X-esl-outbound']!, /^127\.0\.0\.1:\d+$/);
      assert.match(invites[0]!.headers['User-Agent']!, /^drachtio-fsmrf:/);
      assert.equal(ep.uuid, '7f3c-0001');
      assert.equal(ep.local.sdp, 'v=0\r\no=FreeSWITCH 1 1 IN IP4 127.0.0.1\r\nm=audio 24000 RTP/AVP 0\r\n', 'the endpoint offers FreeSWITCH\'s SDP');
      assert.equal(outbound[0]!.commands[0], 'connect');
      // The endpoint then listens to its own channel's events only.
      await until('event filter on the channel', () => outbound[0]!.commands.some((c) => c === 'filter Unique-ID 7f3c-0001'));
    } finally {
      for (const o of outbound) o.close();
    }
  });

  it('mixes the warning into a channel with uuid_displace, and counts a refused one as a failure', async () => {
    const registry = new Registry();
    const metrics = new MediaMetrics(registry);
    server = new FreeswitchMediaServer(new Srf(), settings(fake.port), capturingLogger().logger);
    const service = new MediaService({
      srf: new Srf(), server, metrics, accounts: { require: () => Promise.reject(new Error('unused')) }, promptTimeoutSeconds: 2,
      logger: capturingLogger().logger, rules: { select: { accountKinds: null, accounts: null, groups: null, scopes: null }, noCredit: null, remainingTime: null, warning: null },
    });
    server.start();
    await until('up', () => server!.isUp);
    apiAnswer = (cmd) => (cmd.startsWith('uuid_displace 6a1f') ? '+OK\n' : '-ERR no such channel\n');
    const call = { facts: { accountId: 1, accountKind: 'prepaid' as const, group: null, scope: null }, req: {} as never, res: {} as never, logger: capturingLogger().logger };
    await service.mix({ uuid: '6a1f-0001' } as Endpoint, [{ file: '/var/lib/tollgate/warn.wav' }], 9.2, call);
    assert.ok(fake.commands.includes('api uuid_displace 6a1f-0001 start /var/lib/tollgate/warn.wav 10 mux'), fake.commands.join(' | '));
    assert.equal(await metricValue(registry, 'tollgate_media_announcements_total', { prompt: 'warning' }), 1);
    await assert.rejects(service.mix({ uuid: 'dead-0002' } as Endpoint, [{ tone: '%(200,0,440)' }], 5, call), /no such channel/);
    assert.equal(await metricValue(registry, 'tollgate_media_announcements_total', { prompt: 'warning' }), 1);
  });
});
