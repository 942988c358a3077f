import { z } from 'zod';
import { mediaSchema } from './media';

/**
 * The one configuration schema. Every key is documented in config/README.md; defaults live in
 * config/default.json. Objects are strict: an unknown key stops start-up.
 */
const port = z.number().int().min(0).max(65535);
const seconds = z.number().int().positive();
const transport = z.enum(['udp', 'tcp', 'tls']);

/** A regular expression's source, checked to compile at start-up. */
const regexSource = z.string().min(1).refine((p) => { try { new RegExp(p); return true; } catch { return false; } },
  { message: 'not a valid regular expression' });

/** A TLS listener names its certificate and key files (PEM); caFile/rejectUnauthorized govern outgoing TLS. */
const listenSchema = z.strictObject({
  transport,
  address: z.string().min(1),
  port,
  certFile: z.string().min(1).optional(),
  keyFile: z.string().min(1).optional(),
  caFile: z.string().min(1).optional(),
  rejectUnauthorized: z.boolean().optional(),
}).refine((l) => l.transport !== 'tls' || (l.certFile !== undefined && l.keyFile !== undefined),
  { message: 'a tls listener needs certFile and keyFile' })
  .refine((l) => l.transport === 'tls' || (l.certFile ?? l.keyFile ?? l.caFile ?? l.rejectUnauthorized) === undefined,
    { message: 'certFile, keyFile, caFile and rejectUnauthorized are for tls listeners' });

export const edgeSchema = z.strictObject({
  sip: z.array(listenSchema).min(1),
  publicAddress: z.string().min(1).nullable(),
  control: z.strictObject({ address: z.string().min(1), port, secret: z.string().min(1) }),
  timers: z.strictObject({
    t1: z.number().int().positive(), t2: z.number().int().positive(), t4: z.number().int().positive(),
    /** Timer C (RFC 3261 §16.6): the longest an outgoing INVITE may stay in the proceeding state, ms. */
    timerC: z.number().int().positive(),
  }),
  sessionTimer: z.strictObject({
    enabled: z.boolean(),
    interval: seconds,
    minSE: seconds,
    refresher: z.enum(['uac', 'uas']),
  }),
  appDisconnectGraceSeconds: z.number().min(0),
  /** How long the edge remembers when each call of a lost application really ended. */
  orphanRetentionSeconds: seconds,
  /** On SIGTERM/SIGINT: how long the edge waits for its dialogs to end before it ends the rest. */
  drainSeconds: z.number().min(0),
  limits: z.strictObject({ maxMessageBytes: z.number().int().min(1024), maxHeaders: z.number().int().min(8) }),
  cdrEvents: z.boolean(),
  /** Requests from these User-Agents (regular expressions) are answered `status` or dropped. */
  userAgentBlacklist: z.array(z.strictObject({
    pattern: regexSource,
    action: z.enum(['reject', 'discard']),
    status: z.number().int().min(400).max(699),
  })),
  /** OPTIONS keepalives: 200 from the edge when no application routes OPTIONS, and for these User-Agents. */
  options: z.strictObject({ answerWhenUnrouted: z.boolean(), autoRespondUserAgents: z.array(regexSource) }),
  /** Receive buffer asked for each UDP socket (bytes); the kernel caps it at net.core.rmem_max. */
  udpReceiveBufferBytes: z.number().int().min(65536),
  /** Finished transactions are kept as compact records for their RFC 3261 timers, at most this many (oldest go first). */
  finishedTransactions: z.strictObject({ maxEntries: z.number().int().min(1000), maxBytes: z.number().int().min(1048576) }),
  /** A request the application never answers: given up after timeoutMs, dropped (status null) or answered status. */
  unansweredRequests: z.strictObject({
    timeoutMs: z.number().int().positive(),
    status: z.number().int().min(400).max(699).nullable(),
  }),
});

export const drachtioSchema = z.strictObject({
  mode: z.enum(['embedded', 'external']),
  host: z.string().min(1),
  port,
  secret: z.string().min(1),
});

export const databaseSchema = z.strictObject({
  dialect: z.enum(['sqlite', 'mysql']),
  url: z.string().min(1).nullable(),
  storage: z.string().min(1),
  host: z.string().min(1),
  port,
  user: z.string(),
  password: z.string(),
  database: z.string().min(1),
  pool: z.strictObject({
    max: z.number().int().positive(),
    min: z.number().int().min(0),
    acquireMs: z.number().int().positive(),
    idleMs: z.number().int().positive(),
  }),
  statementTimeoutMs: z.number().int().min(100).max(600_000),
  logQueries: z.boolean(),
});

export const configSchema = z.strictObject({
  instanceId: z.string().min(1).nullable(),
  dataDir: z.string().min(1),
  edge: edgeSchema,
  drachtio: drachtioSchema,
  database: databaseSchema,
  log: z.strictObject({
    level: z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']),
    format: z.enum(['json', 'pretty', 'auto']),
  }),
  prepaid: z.strictObject({
    grantSeconds: seconds,
    reauthLeadSeconds: z.number().int().min(0),
    failurePolicy: z.strictObject({
      newCalls: z.enum(['refuse', 'admit']),
      liveCalls: z.enum(['end', 'grace']),
      graceSeconds: z.number().int().min(0),
    }),
    journalDir: z.string().min(1).nullable(),
    heartbeatSeconds: seconds,
    checkpointSeconds: seconds,
    instanceStaleSeconds: seconds,
  }),
  rating: z.strictObject({ timeZone: z.string().min(1), reloadSeconds: z.number().positive() }),
  vpn: z.strictObject({ reloadSeconds: z.number().positive() }),
  /** Spend notifications (low balance, cut-off): always logged; POSTed to the webhook when its url is set. */
  notify: z.strictObject({
    webhook: z.strictObject({
      url: z.string().url().nullable(),
      secret: z.string().min(16).nullable(),
      queueSize: z.number().int().min(1),
      maxAttempts: z.number().int().min(1).max(100),
      backoffMs: z.number().int().positive(),
      maxBackoffMs: z.number().int().positive(),
      timeoutMs: z.number().int().positive(),
    }).refine((w) => w.url === null || w.secret !== null, { message: 'a webhook url needs a secret to sign with' }),
  }),
  numbering: z.strictObject({
    countryCode: z.string().regex(/^[1-9]\d{0,2}$/, 'a country calling code such as "49"'),
    nationalPrefix: z.string().regex(/^\d*$/, 'digits'),
    internationalPrefix: z.string().regex(/^\d+$/, 'digits'),
    areaCodeLength: z.number().int().min(1).max(6),
    minNationalDigits: z.number().int().min(1).max(15),
  }),
  calls: z.strictObject({
    noCreditStatus: z.number().int().min(400).max(699),
    onnetCallerDisplay: z.enum(['user', 'display', 'both']),
    noAnswerSeconds: seconds,
    drainSeconds: z.number().int().min(0),
    /** RFC 4028 session timers the application asks for on both legs (so they work on any SIP server). */
    sessionTimer: z.strictObject({
      enabled: z.boolean(),
      interval: seconds,
      minSE: seconds,
      refresher: z.enum(['uac', 'uas']),
    }),
    /** After the SIP server connection drops: how long calls wait for it to come back before they are settled at the moment of loss. */
    sipServerLostSeconds: z.number().min(0),
    /** A suspended or closed account or VPN group: its live calls end now, or at the end of their current grant. */
    onSuspend: z.enum(['now', 'end_of_grant']),
    suspendCheckSeconds: z.number().positive(),
    /** Overload control: while overloaded, new calls get 503 with Retry-After at once, before any database work. */
    overload: z.strictObject({
      enabled: z.boolean(),
      maxCallsInSetup: z.number().int().min(1),
      maxEventLoopLagMs: z.number().positive(),
      maxPoolWaiters: z.number().int().min(0),
      /** A share of new calls is refused while the dial queue is above this; 0: never (it is still measured). */
      maxDialQueueMs: z.number().min(0),
      /** The dial delay's floor is the lowest median of this long; the dial queue reads once a tenth of it has been watched. */
      dialFloorSeconds: z.number().min(10),
      clearRatio: z.number().min(0).max(1),
      minOverloadSeconds: z.number().min(0),
      retryAfterSeconds: z.number().int().min(1),
    }),
  }),
  supervisor: z.strictObject({
    /** First delay before a crashed process is started again; doubles on each crash in a row. */
    restartDelaySeconds: z.number().min(0),
    maxRestartDelaySeconds: z.number().min(0),
    /** A process that ran this long before it crashed starts the back-off again from the first delay. */
    stableSeconds: z.number().min(0),
    /** A process that does not exit this long after it was told to stop is killed. */
    killAfterSeconds: z.number().positive(),
    /** Application processes `tollgate start` runs against the one edge; the edge shares new calls between them. */
    applications: z.number().int().min(1).max(16),
    /** Node.js and V8 flags for the edge and application processes, before the CLI script. */
    nodeArgs: z.array(z.string().regex(/^--[A-Za-z0-9]/, 'a Node.js or V8 flag, starting with --')).max(32),
  }),
  admin: z.strictObject({
    enabled: z.boolean(),
    address: z.string().min(1),
    port,
    token: z.string().nullable(),
  }),
  metrics: z.strictObject({
    /** The edge process serves its counters here; the application's /metrics republishes them. */
    edge: z.strictObject({ enabled: z.boolean(), address: z.string().min(1), port }),
  }),
  media: mediaSchema.optional(),
});

export type TollgateConfig = z.infer<typeof configSchema>;
export type EdgeConfig = z.infer<typeof edgeSchema>;
export type DatabaseConfig = z.infer<typeof databaseSchema>;
