import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../lib/common/logger';
import { CdrRepository } from '../lib/db/cdr-repository';
import { openDatabase, type Database } from '../lib/db/database';
import { PrepaidRepository } from '../lib/db/prepaid-repository';
import { RatingRepository } from '../lib/db/rating-repository';
import { VpnRepository } from '../lib/db/vpn-repository';
import { openCreditControl, type CreditControl } from '../lib/prepaid';
import { RatingReloader, type RatingService } from '../lib/rating';
import { DirectoryReloader, VpnService } from '../lib/vpn';
import { admissionSteps } from './admission';
import { TrunkCallCounter } from './calls/trunk-calls';
import type { TollgateConfig } from './config/schema';
import { SipApplication } from './sip-application';

/**
 * The application process: the composition root. It builds the database, the domain services and
 * the SIP application from the validated config, and takes them down in reverse order.
 */
export interface RunningApplication {
  readonly db: Database;
  readonly rating: RatingService;
  readonly vpn: VpnService;
  readonly credit: CreditControl;
  readonly sip: SipApplication;
  readonly instanceId: string;
  stop(reason: string): Promise<void>;
}

export async function prepareDatabase(config: TollgateConfig, logger: Logger): Promise<Database> {
  const db = await openDatabase(config.database, logger);
  try {
    const applied = await db.migrate();
    if (applied[0] === '0001-core' && config.database.dialect === 'sqlite') {
      // First run on the embedded default: make it callable at once.
      const { seedDemoData } = await import('./seed');
      await seedDemoData(db, config, logger);
    }
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}

export function instanceIdOf(config: TollgateConfig): string {
  return config.instanceId ?? `${os.hostname()}-${process.pid}`;
}

export async function startApplication(config: TollgateConfig, logger: Logger): Promise<RunningApplication> {
  const instanceId = instanceIdOf(config);
  const db = await prepareDatabase(config, logger);
  const cleanups: Array<() => Promise<void> | void> = [() => db.close()];
  const unwind = async () => { for (const fn of cleanups.reverse()) await fn(); };
  try {
    const { service: rating, reloader: ratingReloader } = await RatingReloader.create(new RatingRepository(db, config.rating.timeZone), {
      intervalMs: config.rating.reloadSeconds * 1000, logger: logger.child({ module: 'rating' }),
    });
    ratingReloader.start();
    cleanups.push(() => ratingReloader.stop());

    const vpn = VpnService.empty(config.numbering);
    const vpnReloader = new DirectoryReloader(vpn, new VpnRepository(db), { intervalMs: config.vpn.reloadSeconds * 1000, logger: logger.child({ module: 'vpn' }) });
    await vpnReloader.start();
    cleanups.push(() => vpnReloader.stop());

    const p = config.prepaid;
    const credit = await openCreditControl({
      store: new PrepaidRepository(db), logger: logger.child({ module: 'prepaid' }),
      journalDir: p.journalDir ?? path.join(config.dataDir, 'journal', instanceId.replace(/[^\w.-]/g, '_')),
    }, {
      instanceId, grantSeconds: p.grantSeconds, reauthLeadSeconds: p.reauthLeadSeconds, failurePolicy: p.failurePolicy,
      heartbeatSeconds: p.heartbeatSeconds, checkpointSeconds: p.checkpointSeconds, instanceStaleSeconds: p.instanceStaleSeconds,
    });
    await credit.start();
    cleanups.push(() => credit.stop());

    const cdrs = new CdrRepository(db);
    const trunkCalls = new TrunkCallCounter(vpn);
    const sip = new SipApplication(logger.child({ module: 'calls' }));
    const conn = config.drachtio.mode === 'embedded'
      ? { host: config.edge.control.address === '0.0.0.0' ? '127.0.0.1' : config.edge.control.address, port: config.edge.control.port, secret: config.edge.control.secret }
      : { host: config.drachtio.host, port: config.drachtio.port, secret: config.drachtio.secret };
    await sip.start(conn, {
      steps: admissionSteps({ vpn, rating, credit, trunkCalls, noCreditStatus: config.calls.noCreditStatus }),
      credit, rating, trunkCalls,
      writeCdr: async (cdr) => { await cdrs.write(cdr); },
      config: {
        instanceId, onnetCallerDisplay: config.calls.onnetCallerDisplay, noAnswerSeconds: config.calls.noAnswerSeconds,
        reauthLeadSeconds: p.reauthLeadSeconds, checkpointSeconds: p.checkpointSeconds,
      },
    });
    cleanups.push(() => sip.disconnect());
    logger.info('application started', { instanceId, database: config.database.dialect, sipServer: `${conn.host}:${conn.port}` });

    return {
      db, rating, vpn, credit, sip, instanceId,
      async stop(reason: string) {
        logger.info('application stopping', { reason, liveCalls: sip.liveCount });
        await sip.drain(config.calls.drainSeconds * 1000);
        await unwind();
        logger.info('application stopped');
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
