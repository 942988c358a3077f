import assert from 'node:assert/strict';
import { silentLogger } from '../../../lib/common/logger';
import { Directory, DirectoryReloader, VpnService, type DirectoryData, type DirectorySource } from '../../../lib/vpn';
import { fixtureData, PLAN } from './fixture';

/** A source whose data and version the test changes, as an admin editing MySQL would. */
class FakeSource implements DirectorySource {
  version_ = 1;
  data: DirectoryData = fixtureData();
  failing = false;
  loads = 0;
  async version(): Promise<string> {
    if (this.failing) throw new Error('database unreachable');
    return String(this.version_);
  }
  async load(): Promise<DirectoryData> {
    this.loads++;
    return structuredClone(this.data);
  }
  edit(change: (d: DirectoryData) => void): void {
    change(this.data);
    this.version_++;
  }
}

function extensionOwner(service: VpnService, group: string, extension: string): string | undefined {
  return service.directory.group(group)?.extensions.get(extension)?.subscriber.e164;
}

describe('VpnService and DirectoryReloader: edits are picked up and swapped whole', () => {
  let reloader: DirectoryReloader | undefined;
  afterEach(() => reloader?.stop());

  it('starts with the stored directory', async () => {
    const source = new FakeSource();
    const service = VpnService.empty(PLAN);
    reloader = new DirectoryReloader(service, source, { intervalMs: 1000, logger: silentLogger() });
    await reloader.start();
    assert.equal(service.directory.counts.members, 10);
    assert.ok(service.resolveCall({ caller: '4930100001', dialled: '1002' }).ok);
    assert.equal(service.matchTrunk('192.0.2.10')?.name, 'pbx-acme');
  });

  it('an unchanged version does not reload', async () => {
    const source = new FakeSource();
    const service = VpnService.empty(PLAN);
    reloader = new DirectoryReloader(service, source, { intervalMs: 1000, logger: silentLogger() });
    await reloader.start();
    assert.equal(await reloader.checkNow(), 'unchanged');
    assert.equal(source.loads, 1);
  });

  it('a changed version reloads and the new extension resolves', async () => {
    const source = new FakeSource();
    const service = VpnService.empty(PLAN);
    reloader = new DirectoryReloader(service, source, { intervalMs: 1000, logger: silentLogger() });
    await reloader.start();
    const before = service.directory;
    source.edit((d) => { d.members[1]!.extension = '1222'; });
    assert.equal(await reloader.checkNow(), 'reloaded');
    assert.notEqual(service.directory, before);
    assert.equal(extensionOwner(service, 'acme', '1222'), '4930100002');
    assert.equal(extensionOwner(service, 'acme', '1002'), undefined);
    // The old snapshot is untouched: a resolution that began on it finishes on it.
    assert.equal(before.group('acme')?.extensions.get('1002')?.subscriber.e164, '4930100002');
  });

  it('an edit that does not validate is refused and the running directory stays', async () => {
    const source = new FakeSource();
    const service = VpnService.empty(PLAN);
    reloader = new DirectoryReloader(service, source, { intervalMs: 1000, logger: silentLogger() });
    await reloader.start();
    const running = service.directory;
    source.edit((d) => { d.members[1]!.extension = '1001'; });
    assert.equal(await reloader.checkNow(), 'invalid');
    assert.equal(reloader.lastChange?.outcome, 'invalid');
    assert.match(reloader.lastChange?.problems[0] ?? '', /extension already used/);
    assert.equal(service.directory, running);
    assert.equal(await reloader.checkNow(), 'unchanged', 'the same bad version is not reloaded again');
    source.edit((d) => { d.members[1]!.extension = '1333'; });
    assert.equal(await reloader.checkNow(), 'reloaded');
    assert.equal(extensionOwner(service, 'acme', '1333'), '4930100002');
  });

  it('an unreachable source keeps the running directory and retries', async () => {
    const source = new FakeSource();
    const service = VpnService.empty(PLAN);
    reloader = new DirectoryReloader(service, source, { intervalMs: 1000, logger: silentLogger() });
    await reloader.start();
    const running = service.directory;
    source.failing = true;
    assert.equal(await reloader.checkNow(), 'failed');
    assert.equal(service.directory, running);
    source.failing = false;
    source.edit((d) => { d.members[1]!.extension = '1444'; });
    assert.equal(await reloader.checkNow(), 'reloaded');
  });

  it('a first load that does not validate makes start fail', async () => {
    const source = new FakeSource();
    source.data.routes[0]!.trunkId = 99;
    const service = VpnService.empty(PLAN);
    reloader = new DirectoryReloader(service, source, { intervalMs: 1000, logger: silentLogger() });
    await assert.rejects(reloader.start(), /trunk 99 does not exist/);
    assert.equal(service.directory.counts.members, 0);
  });

  it('polling picks up an edit by itself within a few intervals', async () => {
    const source = new FakeSource();
    const service = VpnService.empty(PLAN);
    reloader = new DirectoryReloader(service, source, { intervalMs: 10, logger: silentLogger() });
    await reloader.start();
    source.edit((d) => { d.members[1]!.extension = '1555'; });
    for (let i = 0; i < 100 && extensionOwner(service, 'acme', '1555') === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(extensionOwner(service, 'acme', '1555'), '4930100002');
  });

  it('a swap returns the previous snapshot', () => {
    const first = Directory.build(fixtureData(), PLAN);
    const service = new VpnService(first);
    const second = Directory.empty(PLAN);
    assert.equal(service.swap(second), first);
    assert.equal(service.directory, second);
    assert.equal(service.resolveCall({ caller: '4930100001', dialled: '1002' }).ok, false);
  });
});
