import assert from 'node:assert/strict';
import { silentLogger } from '../../lib/common/logger';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { VpnRepository } from '../../lib/db/vpn-repository';
import { Directory, DirectoryReloader, resolveCall, VpnService, type DirectoryData } from '../../lib/vpn';
import { testDatabaseUrl } from '../support/mariadb';
import { PLAN } from '../unit/vpn/fixture';
import { memberExtension, memberNumber, publicNumber, syntheticCalls, syntheticData, type SyntheticOptions } from '../unit/vpn/synthetic';

/** Eight groups of 1,250 members: 10,000 members, plus public subscribers. */
const SIZE: SyntheticOptions = { groups: 8, membersPerGroup: 1250, publicSubscribers: 200 };

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('VPN directory on MariaDB: 10,000 members in 8 groups', function () {
  this.timeout(60_000);
  let db: Database;
  let repo: VpnRepository;
  let generated: DirectoryData;
  let loaded: Directory;

  before(async () => {
    db = await openDatabaseUrl(await testDatabaseUrl('vpn'));
    await db.migrate();
    repo = new VpnRepository(db);
    generated = syntheticData(SIZE);
    await repo.importRows(generated);
  });

  after(async () => {
    await db?.close();
  });

  it('loads the whole directory and it validates', async () => {
    loaded = Directory.build(await repo.load(), PLAN);
    assert.deepEqual(loaded.counts, { groups: 8, members: 10_000, subscribers: 10_200, trunks: generated.trunks.length, routes: generated.routes.length });
  });

  it('reads back exactly what was stored', async () => {
    const data = await repo.load();
    assert.deepEqual(data, generated);
  });

  it('resolves every member\'s extension in its own group, on-net to its home trunk', () => {
    for (let g = 0; g < SIZE.groups; g++) {
      const caller = memberNumber(g, 7);
      for (let i = 0; i < SIZE.membersPerGroup; i++) {
        const result = resolveCall(loaded, { caller, dialled: memberExtension(i) });
        assert.ok(result.ok, `group ${g} extension ${memberExtension(i)}: ${JSON.stringify(result)}`);
        const r = result.resolution;
        assert.equal(r.scope, 'onnet');
        assert.equal(r.callee.e164, memberNumber(g, i));
        assert.equal(r.callee.groupCode, `g${g}`);
        assert.equal(r.presentedCaller, memberExtension(7));
        assert.deepEqual(r.routes.map((t) => t.name), ['pbx-0']);
        assert.equal(r.attributes.vpnGroup, `g${g}`);
      }
    }
  });

  it('dials other groups\' members by public number: on-net only between willing groups (every third)', () => {
    for (let g = 0; g < SIZE.groups; g++) {
      for (let h = 0; h < SIZE.groups; h++) {
        // Member 0 of each group is international; member 3 of group h is the callee.
        const result = resolveCall(loaded, { caller: memberNumber(g, 0), dialled: `+${memberNumber(h, 3)}` });
        assert.ok(result.ok, JSON.stringify(result));
        const expected = g === h || (g % 3 === 0 && h % 3 === 0) ? 'onnet' : 'offnet';
        assert.equal(result.resolution.scope, expected, `group ${g} → group ${h}`);
        assert.equal(result.resolution.callee.extension, memberExtension(3));
      }
    }
  });

  it('resolves off-net calls through each group\'s own prefix, and public callers', () => {
    const even = resolveCall(loaded, { caller: memberNumber(2, 0), dialled: '9089 1234567' });
    const odd = resolveCall(loaded, { caller: memberNumber(3, 0), dialled: '0089 1234567' });
    const wrong = resolveCall(loaded, { caller: memberNumber(3, 0), dialled: '9089 1234567' });
    const publicCall = resolveCall(loaded, { caller: `tel:+${publicNumber(5)}`, dialled: `0${memberNumber(4, 9).slice(2)}` });
    assert.ok(even.ok && even.resolution.scope === 'offnet' && even.resolution.callee.e164 === '49891234567');
    assert.ok(odd.ok && odd.resolution.scope === 'offnet' && odd.resolution.callee.e164 === '49891234567');
    assert.ok(!wrong.ok && wrong.refusal.status === 404);
    assert.ok(publicCall.ok && publicCall.resolution.scope === 'public' && publicCall.resolution.callee.extension === memberExtension(9));
  });

  it('resolves a mixed call load exactly as the same data built in memory does', () => {
    const inMemory = Directory.build(generated, PLAN);
    for (const call of syntheticCalls(SIZE, 5000)) {
      assert.deepEqual(resolveCall(loaded, call), resolveCall(inMemory, call), JSON.stringify(call));
    }
  });

  describe('edits made in MariaDB while running', () => {
    let service: VpnService;
    let reloader: DirectoryReloader;

    before(async () => {
      service = VpnService.empty(PLAN);
      reloader = new DirectoryReloader(service, repo, { intervalMs: 100, logger: silentLogger() });
      await reloader.start();
    });

    after(() => reloader?.stop());

    function calleeOf(caller: string, dialled: string): string | undefined {
      const result = service.resolveCall({ caller, dialled });
      return result.ok ? result.resolution.callee.e164 : `${result.refusal.status} ${result.refusal.code}`;
    }

    it('an extension changed by hand is picked up within seconds', async () => {
      assert.equal(calleeOf(memberNumber(0, 1), '8999'), '404 UNKNOWN_EXTENSION');
      await db.sequelize.query('UPDATE vpn_members SET extension = $1 WHERE subscriber_id = (SELECT id FROM subscribers WHERE e164 = $2)', { bind: ['8999', memberNumber(0, 5)] });
      await waitFor('the new extension', () => calleeOf(memberNumber(0, 1), '8999') === memberNumber(0, 5));
      assert.equal(calleeOf(memberNumber(0, 1), memberExtension(5)), '404 UNKNOWN_EXTENSION');
    });

    it('a call class lowered by hand bars the next off-net call', async () => {
      const caller = memberNumber(1, 0);
      assert.equal(calleeOf(caller, '0089 1234567'), '49891234567');
      await db.sequelize.query("UPDATE vpn_members SET call_class = 'onnet_only' WHERE subscriber_id = (SELECT id FROM subscribers WHERE e164 = $1)", { bind: [caller] });
      await waitFor('the barring', () => calleeOf(caller, '0089 1234567') === '403 BARRED');
    });

    it('an edit that breaks the plan is not taken; the running directory stays until it is fixed', async () => {
      const running = service.directory;
      // Extension 1000 of group g0 taken twice cannot be stored (unique index); a 3-digit one can, and is invalid.
      await db.sequelize.query('UPDATE vpn_members SET extension = $1 WHERE subscriber_id = (SELECT id FROM subscribers WHERE e164 = $2)', { bind: ['123', memberNumber(0, 6)] });
      await waitFor('the refusal', () => reloader.lastChange?.outcome === 'invalid');
      assert.ok(reloader.lastChange?.problems.some((p) => p.includes('extension must have 4 digits')), JSON.stringify(reloader.lastChange));
      assert.equal(service.directory, running);
      assert.equal(calleeOf(memberNumber(0, 1), memberExtension(6)), memberNumber(0, 6));
      await db.sequelize.query('UPDATE vpn_members SET extension = $1 WHERE subscriber_id = (SELECT id FROM subscribers WHERE e164 = $2)', { bind: ['8998', memberNumber(0, 6)] });
      await waitFor('the fixed extension', () => calleeOf(memberNumber(0, 1), '8998') === memberNumber(0, 6));
    });
  });
});
