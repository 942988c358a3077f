import { z } from 'zod';

/**
 * The optional `media` section: announcements through drachtio-fsmrf and a FreeSWITCH. Absent,
 * no call touches a media server. Unlike the rest of the config, its defaults live here: putting
 * the section into config/default.json would turn media on for everyone. Documented in
 * config/README.md and app/media/README.md.
 */
const port = z.number().int().min(1).max(65535);

/** One piece of an announcement, rendered to a FreeSWITCH application by lib/media/prompts.ts. */
export const promptPartSchema = z.union([
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ tone: z.string().min(1) }),
  z.strictObject({
    say: z.string().min(1),
    language: z.string().min(1).default('en'),
    type: z.string().min(1).default('number'),
    method: z.enum(['pronounced', 'iterated', 'counted']).default('pronounced'),
  }),
  z.strictObject({ speak: z.string().min(1), engine: z.string().min(1).default('flite'), voice: z.string().min(1).default('kal') }),
]);

const promptSchema = z.array(promptPartSchema).min(1);

/** The warning is mixed into a running call (uuid_displace), which plays files and tones only. */
const warningPromptSchema = z.array(z.union([z.strictObject({ file: z.string().min(1) }), z.strictObject({ tone: z.string().min(1) })])).length(1);

const listOrAll = <T extends z.ZodTypeAny>(item: T) => z.array(item).min(1).nullable().default(null);

export const mediaSchema = z.strictObject({
  freeswitch: z.strictObject({
    /** FreeSWITCH's event socket (mod_event_socket), inbound. */
    address: z.string().min(1),
    port: port.default(8021),
    secret: z.string().min(1),
    /** The sofia profile drachtio sends the media INVITEs to; its address is read from `sofia status`. */
    profile: z.string().min(1).default('drachtio_mrf'),
    /** host:port of that profile, when `sofia status` shows an address the SIP server cannot reach. */
    sipAddress: z.string().regex(/^[^\s:]+:\d+$/, 'host:port').nullable().default(null),
    /** Where this process listens for FreeSWITCH's outbound event-socket connections (one per endpoint). */
    listenAddress: z.string().min(1).default('127.0.0.1'),
    listenPort: z.number().int().min(0).max(65535).default(0),
    /** The address FreeSWITCH is told to connect back to, when not listenAddress (NAT, containers). */
    advertisedAddress: z.string().min(1).nullable().default(null),
  }),
  /** Back-off between attempts to reach a lost media server, doubling from min to max. */
  reconnect: z.strictObject({ minSeconds: z.number().positive().default(1), maxSeconds: z.number().positive().default(30) }).default({ minSeconds: 1, maxSeconds: 30 }),
  /** How often a connected FreeSWITCH is asked `status`; one that does not answer within that time is taken as lost. */
  healthCheckSeconds: z.number().positive().default(5),
  /** Upper bound on one announcement; a prompt still playing then is cut and counted as failed. */
  promptTimeoutSeconds: z.number().positive().default(30),
  /** Which calls get media: every list given must contain the call's value (null: any). */
  select: z.strictObject({
    accountKinds: listOrAll(z.enum(['prepaid', 'postpaid'])),
    accounts: listOrAll(z.number().int().positive()),
    groups: listOrAll(z.string().min(1)),
    scopes: listOrAll(z.enum(['onnet', 'offnet', 'public'])),
  }).default({ accountKinds: ['prepaid'], accounts: null, groups: null, scopes: null }),
  noCredit: z.strictObject({
    enabled: z.boolean().default(true),
    /** early: 183 with the media server's SDP, the prompt, then the refusal; answer: 200, the prompt, then BYE. */
    mode: z.enum(['early', 'answer']).default('early'),
    prompt: promptSchema,
  }).nullable().default(null),
  remainingTime: z.strictObject({
    enabled: z.boolean().default(true),
    /** before_connect: in early media before the callee is called (not billed); at_answer: to the caller once the callee answered (billed). */
    when: z.enum(['before_connect', 'at_answer']).default('before_connect'),
    /** `{minutes}` and `{seconds}` in say/speak parts are replaced by what the money buys. */
    prompt: promptSchema,
  }).nullable().default(null),
  warning: z.strictObject({
    enabled: z.boolean().default(true),
    /** Played this long before the end of the final grant. */
    secondsBefore: z.number().int().positive().default(30),
    callee: z.boolean().default(false),
    prompt: warningPromptSchema,
  }).nullable().default(null),
}).refine((m) => m.reconnect.minSeconds <= m.reconnect.maxSeconds, { message: 'reconnect.minSeconds must not exceed reconnect.maxSeconds' });

export type MediaConfig = z.infer<typeof mediaSchema>;
