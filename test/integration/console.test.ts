import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';
import { startSipp, type SippProcess } from '../support/sipp';
import { adminClient, ALICE, injectionFile, seedOpsDatabase, type AdminClient } from '../support/ops-product';

const SCENARIOS = path.resolve(__dirname, '../../../scenarios');
/** Debian's chromium (the test harness installs it); playwright-core only drives it. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const VIEWPORT = { width: 1400, height: 900 };

/** Width and height from a PNG's IHDR, after checking it is a PNG at all. */
function pngSize(png: Buffer): { width: number; height: number } {
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG signature');
  assert.equal(png.subarray(12, 16).toString('ascii'), 'IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe('admin web console in headless Chromium', function () {
  this.timeout(120_000);
  let carrier: SippProcess;
  let product: Product;
  let api: AdminClient;
  let browser: Browser;
  let page: Page;
  let base: string;
  const shots = process.env.TG_TEST_ARTIFACTS ? path.resolve(process.env.TG_TEST_ARTIFACTS, 'console') : fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-console-'));

  /** A screenshot of the page (or one element), kept in the artefacts folder and checked as a PNG of the expected size. */
  async function shot(name: string, target?: Locator): Promise<Buffer> {
    const file = path.join(shots, `${name}.png`);
    const png = target ? await target.screenshot({ path: file, animations: 'disabled' }) : await page.screenshot({ path: file, fullPage: false, animations: 'disabled' });
    const size = pngSize(png);
    if (target) {
      const box = await target.boundingBox();
      // Sub-pixel edges round either way.
      assert.ok(box && Math.abs(size.width - box.width) <= 2 && Math.abs(size.height - box.height) <= 2, `${name}: the element's size ${size.width}x${size.height}, box ${JSON.stringify(box)}`);
    } else {
      assert.deepEqual(size, VIEWPORT, `${name}: the viewport's size`);
    }
    assert.ok(png.length > 1000, `${name}: more than a blank image (${png.length} bytes)`);
    return png;
  }

  before(async () => {
    fs.mkdirSync(shots, { recursive: true });
    const databaseUrl = await testDatabaseUrl('ops_console');
    carrier = await startSipp({ scenario: { file: path.join(SCENARIOS, 'uas-answer.xml') }, transport: 'udp', timeoutMs: 115_000 });
    await seedOpsDatabase(databaseUrl, { carrier: carrier.localPort });
    product = await startProduct({ databaseUrl, config: { prepaid: { grantSeconds: 60 } } });
    base = `http://127.0.0.1:${product.adminPort}`;
    api = adminClient(base, product.adminToken);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
    page = await browser.newPage({ viewport: VIEWPORT });
    page.setDefaultTimeout(15_000);
  });

  after(async () => {
    await browser?.close();
    await product?.stop();
    await carrier?.stop();
    process.stdout.write(`      console screenshots in ${shots}\n`);
  });

  it('loads without a token, refuses a wrong one, and signs in with the admin token', async () => {
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const res = await page.goto(`${base}/console`);
    assert.equal(res?.status(), 200);
    assert.equal(await page.title(), 'Tollgate console');
    assert.ok(await page.locator('#login').isVisible());
    assert.ok(await page.locator('#tabs').isHidden(), 'nothing but the sign-in before a token');
    await shot('01-sign-in');

    await page.fill('#token', 'not-the-token');
    await page.click('#login button[type=submit]');
    await page.locator('#status.error').waitFor();
    assert.match(await page.textContent('#status') ?? '', /refused: wrong token/);

    await page.fill('#token', product.adminToken);
    await page.click('#login button[type=submit]');
    await page.locator('#tabs').waitFor();
    await page.locator('#instance', { hasText: 'instance ' }).waitFor();
    assert.ok(await page.locator('#calls-empty').isVisible(), 'no live calls yet');
    await shot('02-signed-in-no-calls');
    assert.deepEqual(requests.filter((u) => !u.startsWith(base)), [], 'the console loads nothing from elsewhere');
  });

  it('a top-up changes the balance shown, and lands in the ledger', async () => {
    await page.click('#tabs button[data-tab=accounts]');
    await page.locator('tr[data-account="acme-alice"] button.open-account').click();
    const balance = page.locator('#account-balance');
    await balance.filter({ hasText: '10.000000 EUR' }).waitFor();
    const before = await shot('03-account-before-top-up', page.locator('#account-detail dl'));
    // The same element shot again, unchanged, is the same image: a difference below means the content changed.
    assert.ok(before.equals(await page.locator('#account-detail dl').screenshot({ animations: 'disabled' })), 'screenshots of an unchanged element are stable');

    await page.fill('#topup-amount', '5.25');
    await page.fill('#topup-note', 'console test');
    await page.click('#topup-form button[type=submit]');
    await balance.filter({ hasText: '15.250000 EUR' }).waitFor();
    const after = await shot('04-account-after-top-up', page.locator('#account-detail dl'));
    assert.ok(!after.equals(before), 'the balance shown changed on the screenshot');
    await page.locator('#ledger-table tbody tr', { hasText: 'console test' }).waitFor();
    assert.match(await page.locator('#ledger-table tbody tr').first().innerText(), /topup\s+5\.250000\s+15\.250000\s+console-/);
    assert.match(await page.locator('tr[data-account="acme-alice"]').innerText(), /15\.250000 EUR/, 'the list shows it too');
    await shot('05-accounts-after-top-up');
    assert.equal((await api.call('GET', '/accounts/acme-alice')).json.balance, '15.250000', 'the database has it');
  });

  it('a live call appears with its money and trunks, and the End button ends it, settled and in the CDRs', async () => {
    await page.click('#tabs button[data-tab=calls]');
    const emptyTable = await shot('06-calls-empty', page.locator('#calls-table'));
    const caller = await startSipp({
      scenario: { file: path.join(SCENARIOS, 'uac-call-expect-bye.xml') }, target: `127.0.0.1:${product.sipPort}`, transport: 'udp',
      injection: injectionFile([[ALICE, '9030555123']]), calls: 1, timeoutMs: 60_000,
    });
    try {
      const row = page.locator('#calls-table tbody tr[data-state=answered]');
      await row.waitFor({ timeout: 20_000 });
      const text = await row.innerText();
      assert.match(text, new RegExp(`answered\\s+${ALICE}\\s+4930555123`));
      assert.match(text, /pbx-loopback\s+carrier/);
      assert.match(text, /\d+\.\d{6} EUR/, 'reserved money shown');
      const callId = await row.getAttribute('data-call-id');
      assert.ok(callId);
      const withCall = await shot('07-calls-live', page.locator('#calls-table'));
      assert.ok(!withCall.equals(emptyTable), 'the call is on the screenshot');
      await shot('08-calls-live-page');

      await row.locator('button.end-call').click();
      await page.locator('#status.ok', { hasText: `Call ${callId} ended and settled.` }).waitFor();
      await page.locator('#calls-empty').waitFor({ state: 'visible' });
      await shot('09-calls-after-end');
      const result = await caller.done;
      assert.equal(result.stats.successful, 1, 'the caller got the BYE');
      const cdr = await api.call('GET', `/cdrs/${callId}`);
      assert.equal(cdr.json.releaseCause, 'admin');

      await page.click('#tabs button[data-tab=cdrs]');
      await page.fill('#cdr-account', 'acme-alice');
      await page.click('#cdr-form button[type=submit]');
      const cdrRow = page.locator(`#cdr-table tbody tr[data-call-id="${callId}"]`);
      await cdrRow.waitFor();
      assert.match(await cdrRow.innerText(), /answered\s+admin\s+200/);
      await shot('10-cdrs');
    } finally {
      await caller.stop();
    }
  });

  it('prices a tariff dry run, resolves a VPN call and reloads, as the API does', async () => {
    await page.click('#tabs button[data-tab=rating]');
    await page.fill('#rating-destination', '4930555123');
    await page.fill('#rating-plan', 'standard');
    await page.fill('#rating-start', '2026-03-04T10:00:00Z');
    await page.fill('#rating-seconds', '95');
    await page.fill('#rating-money', '1.00');
    await page.click('#rating-form button[type=submit]');
    await page.locator('#rating-result').waitFor();
    const expected = await api.call('POST', '/rating/dry-run', { service: 'voice.public', destination: '4930555123', plan: 'standard', start: '2026-03-04T10:00:00Z', seconds: 95, money: '1.00' });
    assert.equal(await page.textContent('#rating-price'), expected.json.price);
    assert.equal(await page.textContent('#rating-tariff'), expected.json.tariffCode);
    assert.match(await page.textContent('#rating-buys') ?? '', new RegExp(`1\\.000000 buys ${String(expected.json.maxSeconds)} s`));
    await shot('11-tariff-dry-run');

    await page.click('#tabs button[data-tab=vpn]');
    await page.fill('#vpn-caller', ALICE);
    await page.fill('#vpn-dialled', '202');
    await page.click('#vpn-form button[type=submit]');
    await page.locator('#vpn-summary', { hasText: 'onnet call to 4930100202' }).waitFor();
    await page.fill('#vpn-caller', '4930100204');
    await page.fill('#vpn-dialled', '9030555123');
    await page.click('#vpn-form button[type=submit]');
    await page.locator('#vpn-summary', { hasText: 'refused: 403' }).waitFor();
    await shot('12-vpn-resolve');

    await page.click('#tabs button[data-tab=reload]');
    await page.click('#reload-button');
    await page.locator('#status.ok', { hasText: 'Rating: unchanged; VPN directory: unchanged.' }).waitFor();
    assert.match(await page.textContent('#reload-result') ?? '', /"outcome": "unchanged"/);
    await shot('13-reload');
  });
});
