import assert from 'node:assert/strict';
import { BoundedLabel, MAX_TRUNK_LABELS, TollgateMetrics } from '../../../app/metrics';
import type { CdrRecord } from '../../../lib/db/cdr-repository';
import type { Grant } from '../../../lib/prepaid';

interface Family { help?: string; type?: string; samples: Array<{ name: string; labels: Record<string, string>; value: number }> }

/** The text exposition format, as far as the naming rules need it. */
function families(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  const family = (name: string) => { let f = out.get(name); if (!f) out.set(name, f = { samples: [] }); return f; };
  const orphans: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'HELP') family(meta[2]!).help = meta[3];
      else family(meta[2]!).type = meta[3];
      continue;
    }
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    const name = m[1]!;
    const base = [...out.keys()].find((f) => name === f || (out.get(f)!.type === 'histogram' && ['_bucket', '_sum', '_count'].some((s) => name === f + s)));
    if (base) out.get(base)!.samples.push({ name, labels, value: Number(m[3]) });
    else orphans.push(name);
  }
  assert.deepEqual(orphans, [], 'every sample belongs to a family announced by HELP and TYPE');
  return out;
}

function grant(callId: string, over: Partial<Grant> = {}): Grant {
  return { callId, accountId: 1, reservationId: 1, mode: 'reserved', grantedSeconds: 30, addedSeconds: 30, reserved: 300_000n, final: false, finalCause: null, replay: false, lowBalance: false, ...over };
}

function cdr(callId: string, over: Partial<CdrRecord>): CdrRecord {
  const inviteAt = new Date('2026-05-04T10:00:00Z');
  return {
    callId, instanceId: 'u', sipCallId: callId, inviteAt, answerAt: null, endAt: new Date(inviteAt.getTime() + 1000), callerDialled: '201', callerE164: '4930100201',
    calleeDialled: '9030555123', calleeE164: '4930555123', presentedCaller: null, scope: 'offnet', service: 'voice.offnet', vpnGroup: 'acme', accountId: 1,
    ingressTrunk: 'pbx', egressTrunk: 'carrier', billableSeconds: 0, grantedSeconds: 0, disposition: 'busy', releaseCause: 'callee_refused', sipStatus: 486,
    sipReason: null, ruleId: 1, tariffId: 1, currency: 'EUR', cost: 0n, ledgerKey: null, ...over,
  };
}

/** Answered calls of `seconds` each on a trunk, after `delay` seconds of ringing. */
function answered(callId: string, trunk: string, seconds: number, delay = 2, cause: 'caller_bye' | 'credit_exhausted' = 'caller_bye'): [CdrRecord, 'caller_bye' | 'credit_exhausted'] {
  const inviteAt = new Date('2026-05-04T10:00:00Z');
  const answerAt = new Date(inviteAt.getTime() + delay * 1000);
  return [cdr(callId, { egressTrunk: trunk, disposition: 'answered', releaseCause: cause, sipStatus: 200, answerAt, endAt: new Date(answerAt.getTime() + seconds * 1000), billableSeconds: seconds }), cause];
}

describe('application metrics exposition', () => {
  const exercised = async () => {
    const m = new TollgateMetrics();
    m.bind({ liveCalls: () => 2, reservationsOutstanding: () => 1, journalDepth: () => 0, ratingVersion: () => 1, edgeCounters: async () => ({ messagesIn: 12, liveDialogs: 2 }) });
    const o = m.callObserver();
    for (const id of ['a1', 'a2', 'a3', 'b1', 'r1']) o.offered!(id);
    for (const id of ['a1', 'a2', 'a3', 'b1']) o.grant!('first', grant(id));
    o.refused!('INSUFFICIENT_FUNDS', 402);
    o.ended!(cdr('r1', { disposition: 'refused', egressTrunk: null, releaseCause: 'refused', sipStatus: 402 }), 'refused');
    o.ended!(...answered('a1', 'carrier', 60));
    o.ended!(...answered('a2', 'carrier', 120));
    o.ended!(...answered('a3', 'carrier-b', 30, 1, 'credit_exhausted'));
    o.ended!(cdr('b1', { egressTrunk: 'carrier' }), 'callee_refused');
    const credit = { authorise: async () => ({ granted: false }), answer: async () => ({}), extend: async () => { throw new Error('db down'); }, settle: async () => ({}), release: async () => undefined };
    m.observeCreditControl(credit);
    await credit.authorise();
    await credit.answer();
    await credit.extend().catch(() => undefined);
    return { metrics: m, text: await m.text() };
  };

  it('follows the naming rules promtool checks: HELP and TYPE on every family, _total on counters only, units in histogram names', async () => {
    const fams = families((await exercised()).text);
    assert.ok(fams.size > 30, `families: ${fams.size}`);
    for (const [name, f] of fams) {
      assert.ok(f.help && f.help.length > 3, `${name} has a HELP text`);
      assert.ok(['counter', 'gauge', 'histogram', 'summary'].includes(f.type ?? ''), `${name} has a TYPE`);
      if (f.type === 'counter') assert.match(name, /_total$/, `counter ${name} ends in _total`);
      else assert.doesNotMatch(name, /_total$/, `${f.type} ${name} does not end in _total`);
      if (f.type === 'histogram' || f.type === 'summary') assert.match(name, /_(seconds|bytes)$/, `${name} names its base unit`);
      assert.doesNotMatch(name, /milli|micro|_ms$|_kb$|_mb$/, `${name} uses base units`);
      assert.match(name, /^tollgate_/, `${name} is in the tollgate_ namespace`);
    }
  });

  it('makes ASR, ACD, answer delay, setup time, cut-offs and credit-control latency derivable, per trunk', async () => {
    const fams = families((await exercised()).text);
    const sum = (name: string, labels: Record<string, string> = {}) => {
      const f = fams.get(name.replace(/_(sum|count)$/, '')) ?? fams.get(name);
      assert.ok(f, `family for ${name}`);
      return f.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
    };
    // ASR on carrier: 2 answered of 3 egress attempts; refusals never reached a trunk.
    const carrierAnswered = sum('tollgate_trunk_calls_total', { side: 'egress', trunk: 'carrier', disposition: 'answered' });
    const carrierAll = sum('tollgate_trunk_calls_total', { side: 'egress', trunk: 'carrier' });
    assert.deepEqual([carrierAnswered, carrierAll], [2, 3]);
    assert.equal(sum('tollgate_trunk_calls_total', { side: 'ingress', trunk: 'pbx' }), 5);
    // ACD on carrier: (60 + 120) / 2.
    assert.equal(sum('tollgate_call_duration_seconds_sum', { trunk: 'carrier' }) / sum('tollgate_call_duration_seconds_count', { trunk: 'carrier' }), 90);
    assert.equal(sum('tollgate_call_answer_delay_seconds_sum', { trunk: 'carrier-b' }), 1);
    assert.equal(sum('tollgate_call_setup_seconds_count', { outcome: 'admitted' }), 4);
    assert.equal(sum('tollgate_call_setup_seconds_count', { outcome: 'refused' }), 1);
    assert.equal(sum('tollgate_call_cutoffs_total', { cause: 'credit_exhausted' }), 1);
    assert.equal(sum('tollgate_credit_control_seconds_count', { operation: 'authorise', outcome: 'refused' }), 1);
    assert.equal(sum('tollgate_credit_control_seconds_count', { operation: 'answer', outcome: 'ok' }), 1);
    assert.equal(sum('tollgate_credit_control_seconds_count', { operation: 'extend', outcome: 'error' }), 1);
    assert.equal(sum('tollgate_build_info'), 1);
  });

  it('caps the distinct trunk label values, so a bad data row cannot multiply the series', () => {
    const label = new BoundedLabel(MAX_TRUNK_LABELS);
    const seen = new Set(Array.from({ length: MAX_TRUNK_LABELS * 3 }, (_, i) => label.of(`trunk-${i}`)));
    assert.equal(seen.size, MAX_TRUNK_LABELS + 1);
    assert.ok(seen.has('other'));
    assert.equal(label.of('trunk-1'), 'trunk-1', 'a value seen before keeps its label');
    assert.equal(label.of(null), 'none');
  });
});
