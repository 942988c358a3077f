import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../lib/common/logger';
import { CdrRepository } from '../lib/db/cdr-repository';
import { openDatabase, type Database } from '../lib/db/database';
import { PrepaidRepository } from '../lib/db/prepaid-repository';
import { RatingRepository } from '../lib/db/rating-repository';
import { VpnRepository } from '../lib/db/vpn-repository';
import { openCreditControl, type CreditControl } from '../lib/prepaid';
import { RatingReloader, type RatingService, type ServiceAttributes } from '../lib/rating';
import { DirectoryReloader, VpnService } from '../lib/vpn';
import { admissionSteps } from './admission';
import type { ReloadReport } from './admin/reload';
import { ReloadControl } from './admin/reload';
import { startAdminServer, type AdminServer } from './admin/server';
import { combineObservers, edgeCountersFetcher, LowBalanceWarnings, TollgateMetrics, type PoolHookTarget } from './metrics';
import { TrunkCallCounter } from './calls/trunk-calls';
import { CdrSpool } from './calls/cdr-spool';
import { recoveredCdr } from './calls/recovered-cdr';
import type { TollgateConfig } from './config/schema';
import { EMBEDDED_SQLITE_FILE } from './config/load';
import { SipApplication } from './sip-application';
import { DatabaseWatch } from './database-watch';
import { FileNotificationOutbox, SpendNotifier } from '../lib/notify';
import { SpendNotifications } from './notify/spend-observer';
import { CAP_LOOKAHEAD_MS, CapAccounts, openCapsOfMember } from './admission/group-budget';
import { SuspensionWatch } from './calls/suspensions';
import { EventLoopLag, LAG_WINDOW_MS, MeanOverWindow, OverloadControl, POOL_SAMPLE_MS, POOL_SAMPLES, poolWaitersOf } from './admission/overload';

/** Cap accounts are opened ahead every this long, for now and for this long ahead. */

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
  readonly metrics: TollgateMetrics;
  /** The admin API, when configured (it needs admin.token). */
  readonly admin: AdminServer | undefined;
  /** Re-reads the rating rule tables and the VPN directory now (SIGHUP, POST /reload). */
  reload(reason: string): Promise<ReloadReport>;
  /** Graceful: new calls get 503, live calls get calls.drainSeconds, then are ended and settled. */
  stop(reason: string): Promise<void>;
}

/**
 * The embedded default: SQLite in its own file inside dataDir, no database.url. Only its first
 * run is seeded with demo data; any other database gets demo data only from `tollgate db seed`.
 */
export function isEmbeddedDefaultDatabase(config: TollgateConfig): boolean {
  const d = config.database;
  return d.dialect === 'sqlite' && d.url === null && d.storage === path.join(config.dataDir, EMBEDDED_SQLITE_FILE);
}

export async function prepareDatabase(config: TollgateConfig, logger: Logger): Promise<Database> {
  const db = await openDatabase(config.database, logger);
  try {
    const applied = await db.migrate();
    if (applied.includes('0001-core') && isEmbeddedDefaultDatabase(config) && db.dialect === 'sqlite') {
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

/**
 * Stable across restarts, so a restarted instance replays its own settlement journal and settles
 * the reservations of its previous life: the host name and the data folder. Two instances on one
 * host need their own data folders (or explicit instance ids).
 */
export function instanceIdOf(config: TollgateConfig): string {
  if (config.instanceId) return config.instanceId;
  const folder = createHash('sha256').update(path.resolve(config.dataDir)).digest('hex').slice(0, 8);
  return `${os.hostname()}-${folder}`;
}

/**
 * Application process `number` of several run by `tollgate start` (supervisor.applications > 1):
 * its own prepaid instance (id, settlement journal and CDR spool), so each replays only its own
 * after a restart and the books stay exact; and its own admin port (admin.port + number - 1, when
 * admin.port is not 0). The first keeps the id it would have alone.
 */
export function applicationProcessConfig(config: TollgateConfig, number: number): TollgateConfig {
  if (number <= 1) return config;
  const base = instanceIdOf(config);
  const p = config.prepaid;
  return {
    ...config,
    instanceId: `${base}-app${number}`,
    prepaid: { ...p, journalDir: p.journalDir === null ? null : path.join(p.journalDir, `app${number}`) },
    admin: { ...config.admin, port: config.admin.port === 0 ? 0 : config.admin.port + number - 1 },
  };
}

export async function startApplication(config: TollgateConfig, logger: Logger): Promise<RunningApplication> {
  const instanceId = instanceIdOf(config);
  const db = await prepareDatabase(config, logger);
  const metrics = new TollgateMetrics();
  metrics.observeDatabase(db.sequelize);
  metrics.observePoolWaits(db.sequelize as unknown as PoolHookTarget);
  const cleanups: Array<() => Promise<void> | void> = [() => db.close()];
  const unwind = async () => { for (const fn of cleanups.reverse()) await fn(); };
  try {
    const { service: rating, reloader: ratingReloader } = await RatingReloader.create(new RatingRepository(db, config.rating.timeZone), {
      intervalMs: config.rating.reloadSeconds * 1000, logger: logger.child({ module: 'rating' }),
    });
    cleanups.push(() => ratingReloader.stop());

    const vpn = VpnService.empty(config.numbering);
    const vpnReloader = new DirectoryReloader(vpn, new VpnRepository(db), { intervalMs: config.vpn.reloadSeconds * 1000, logger: logger.child({ module: 'vpn' }) });
    await vpnReloader.start();
    cleanups.push(() => vpnReloader.stop());
    const reloads = new ReloadControl(ratingReloader, vpnReloader, vpn, metrics, logger.child({ module: 'reload' }));
    reloads.startRatingPolls(config.rating.reloadSeconds * 1000);
    cleanups.push(() => reloads.stop());

    const p = config.prepaid;
    const databaseWatch = new DatabaseWatch(() => db.ping(), logger.child({ module: 'db' }), { intervalMs: p.heartbeatSeconds * 1000 });
    databaseWatch.start();
    cleanups.push(() => databaseWatch.stop());
    const eventLoopLag = new EventLoopLag();
    const poolWaiters = new MeanOverWindow(poolWaitersOf(db.sequelize), POOL_SAMPLES);
    const overload = new OverloadControl(config.calls.overload, { eventLoopLagMs: () => eventLoopLag.recentMs(), poolWaiters: () => poolWaiters.value() },
      logger.child({ module: 'overload' }), undefined, (cause) => metrics.refusedForOverload(cause));
    poolWaiters.start(POOL_SAMPLE_MS);
    eventLoopLag.start(LAG_WINDOW_MS, () => overload.windowClosed());
    cleanups.push(() => { eventLoopLag.stop(); poolWaiters.stop(); });
    // Made before credit control, which asks it when the calls of a lost instance really ended.
    const sip = new SipApplication(logger.child({ module: 'calls' }), {
      lostServerWaitMs: config.calls.sipServerLostSeconds * 1000, settleBoundMs: 15_000, overload,
    });
    const cdrs = new CdrRepository(db);
    // This instance's own folders: its journal and CDR spool are replayed by it after a restart.
    const ownFolder = instanceId.replace(/[^\w.-]/g, '_');
    const cdrSpool = new CdrSpool(path.join(config.dataDir, 'cdr-spool', ownFolder), (cdr) => cdrs.write(cdr), logger.child({ module: 'cdr' }));
    await cdrSpool.flush();
    cdrSpool.start(p.heartbeatSeconds * 1000);
    cleanups.push(() => cdrSpool.stop());
    const journalDir = p.journalDir ?? path.join(config.dataDir, 'journal', ownFolder);
    const credit = await openCreditControl({
      store: new PrepaidRepository(db), logger: logger.child({ module: 'prepaid' }),
      onRecovered: (call) => cdrSpool.record(recoveredCdr(call, instanceId)),
      orphanEnds: (dialogs) => sip.endOrphanedDialogs(dialogs),
      repricer: (stored, answeredAt) => rating.quote((JSON.parse(stored) as { attributes: ServiceAttributes }).attributes, answeredAt),
      journalDir,
    }, {
      instanceId, grantSeconds: p.grantSeconds, reauthLeadSeconds: p.reauthLeadSeconds, failurePolicy: p.failurePolicy,
      heartbeatSeconds: p.heartbeatSeconds, checkpointSeconds: p.checkpointSeconds, instanceStaleSeconds: p.instanceStaleSeconds,
    });
    metrics.observeCreditControl(credit);
    await credit.start();
    cleanups.push(() => credit.stop());

    const trunkCalls = new TrunkCallCounter(vpn);
    const capAccounts = new CapAccounts(credit.accounts);
    const budgetLogger = logger.child({ module: 'budget' });
    const openCaps = async () => {
      // Ahead of the next period too, so that midnight does not make every capped member's first call slower.
      const now = new Date();
      const n = await capAccounts.openAhead(vpn, rating, now, budgetLogger) + await capAccounts.openAhead(vpn, rating, new Date(now.getTime() + CAP_LOOKAHEAD_MS), budgetLogger);
      budgetLogger.info('member cap accounts open', { accounts: n });
    };
    await openCaps();
    const capTimer = setInterval(() => { void openCaps().catch((err: unknown) => budgetLogger.warn('cap accounts not opened ahead', { error: String(err) })); }, CAP_LOOKAHEAD_MS);
    capTimer.unref();
    cleanups.push(() => clearInterval(capTimer));
    const lowBalance = new LowBalanceWarnings(logger.child({ module: 'prepaid' }));
    const w = config.notify.webhook;
    // Kept beside the settlement journal: this instance sends again, after a restart, what it had not delivered.
    const notifier = new SpendNotifier(w.url === null ? null : { ...w, url: w.url, secret: w.secret! }, logger.child({ module: 'notify' }),
      undefined, undefined, new FileNotificationOutbox(path.join(journalDir, 'notify-outbox')));
    await notifier.start();
    cleanups.push(() => notifier.stop(2000));
    const spend = new SpendNotifications(notifier);

    // Optional: without a media section nothing of it is loaded.
    const media = config.media
      ? (await import('./media')).startMedia({ srf: sip.srf, config: config.media, registry: metrics.registry, accounts: credit.accounts, logger: logger.child({ module: 'media' }) })
      : undefined;
    if (media) cleanups.push(() => media.stop());

    const conn = config.drachtio.mode === 'embedded'
      ? { host: config.edge.control.address === '0.0.0.0' ? '127.0.0.1' : config.edge.control.address, port: config.edge.control.port, secret: config.edge.control.secret }
      : { host: config.drachtio.host, port: config.drachtio.port, secret: config.drachtio.secret };
    await sip.start(conn, {
      steps: admissionSteps({ vpn, rating, credit, trunkCalls, noCreditStatus: config.calls.noCreditStatus, capAccounts }),
      credit, rating, trunkCalls,
      writeCdr: (cdr) => cdrSpool.record(cdr),
      observer: combineObservers(logger, metrics.callObserver(), lowBalance.observer(), spend.observer(), overload.observer()),
      media: media?.service,
      config: {
        instanceId, onnetCallerDisplay: config.calls.onnetCallerDisplay, noAnswerSeconds: config.calls.noAnswerSeconds,
        reauthLeadSeconds: p.reauthLeadSeconds, checkpointSeconds: p.checkpointSeconds, sessionTimer: config.calls.sessionTimer,
      },
    });
    cleanups.push(() => sip.disconnect());
    const suspensions = new SuspensionWatch({
      liveCalls: () => sip.liveCalls(), endNow: (id, cause) => sip.endCall(id, cause), endAtGrant: (id, cause) => sip.endCallAtGrant(id, cause),
      // One read per sweep (per 500 accounts); an account that is gone is left out, and any error
      // fails the sweep (logged, retried next interval).
      accountStatuses: (ids) => credit.accounts.statuses(ids),
      groupStatus: (code) => { const g = vpn.directory.group(code); return g ? g.group.status ?? 'active' : undefined; },
    }, config.calls.onSuspend, config.calls.suspendCheckSeconds * 1000, logger.child({ module: 'calls' }));
    suspensions.start();
    cleanups.push(() => suspensions.stop());

    const e = config.metrics.edge;
    metrics.bind({
      liveCalls: () => sip.liveCount,
      reservationsOutstanding: () => credit.liveCallCount(),
      journalDepth: () => credit.journalPending(),
      ratingVersion: () => { reloads.countVpnPolls(); return rating.version; },
      overload: () => overload.status(),
      edgeCounters: config.drachtio.mode === 'embedded' && e.enabled
        ? edgeCountersFetcher(`http://${e.address === '0.0.0.0' ? '127.0.0.1' : e.address}:${e.port}/counters`)
        : undefined,
    });
    let draining = false;
    const reload = (reason: string) => reloads.reloadNow(reason);
    let admin: AdminServer | undefined;
    if (!config.admin.enabled) {
      logger.info('admin API disabled (admin.enabled is false)');
    } else if (!config.admin.token) {
      logger.warn('admin API not started: admin.token is not set (the API is never served without a token)');
    } else {
      admin = await startAdminServer({
        instanceId, accounts: credit.accounts, calls: { liveCalls: () => sip.liveCalls(), endCall: (id) => sip.endCall(id, 'admin') },
        cdrs, rating, vpn, reload, metrics, pingDatabase: () => db.ping(), sipConnected: () => sip.isConnected, draining: () => draining,
        moneyIn: (accountId) => { lowBalance.rearm(accountId); spend.rearm(accountId); }, mediaServer: media?.health,
        groups: {
          change: (fn) => new VpnRepository(db).changeValidated(config.numbering, fn), read: (fn) => fn(new VpnRepository(db)),
          reload: () => vpnReloader.checkNow(),
          capsChanged: (memberId) => openCapsOfMember(capAccounts, vpn, rating, memberId, new Date(), budgetLogger),
        },
      }, { address: config.admin.address, port: config.admin.port, token: config.admin.token }, logger.child({ module: 'admin' }));
      const server = admin;
      cleanups.push(() => server.close());
    }
    logger.info('application started', { instanceId, database: db.dialect, sipServer: `${conn.host}:${conn.port}` });

    return {
      db, rating, vpn, credit, sip, instanceId, metrics, admin, reload,
      async stop(reason: string) {
        draining = true;
        logger.info('application stopping', { reason, liveCalls: sip.liveCount, drainSeconds: config.calls.drainSeconds });
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
