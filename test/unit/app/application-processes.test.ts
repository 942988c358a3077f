import assert from 'node:assert/strict';
import { loadConfig } from '../../../app/config/load';
import { applicationProcessConfig, instanceIdOf } from '../../../app/main';
import { APPLICATION_NUMBER_ENV, embeddedProcessSpecs } from '../../../app/supervisor';

describe('several application processes (supervisor.applications)', () => {
  it('runs one application process by default, as before: no number, the id it always had', () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.supervisor.applications, 1);
    const specs = embeddedProcessSpecs(config);
    assert.deepEqual(specs.map((s) => s.name), ['edge', 'app']);
    assert.equal(specs[1]!.env, undefined);
    assert.equal(applicationProcessConfig(config, 1), config);
  });

  it('runs the edge then n numbered application processes, each reloading on SIGHUP', () => {
    const specs = embeddedProcessSpecs(loadConfig({ env: {}, overrides: { supervisor: { applications: 3 } } }));
    assert.deepEqual(specs.map((s) => s.name), ['edge', 'app-1', 'app-2', 'app-3']);
    assert.deepEqual(specs.slice(1).map((s) => s.env?.[APPLICATION_NUMBER_ENV]), ['1', '2', '3']);
    assert.ok(specs.slice(1).every((s) => s.reloadsOnHup && s.args[0] === 'app'));
    assert.ok(!specs[0]!.reloadsOnHup);
  });

  it('passes supervisor.nodeArgs to the edge and every application process, and none by default', () => {
    assert.ok(embeddedProcessSpecs(loadConfig({ env: {} })).every((s) => s.nodeArgs === undefined));
    const specs = embeddedProcessSpecs(loadConfig({ env: {}, overrides: { supervisor: { applications: 2, nodeArgs: ['--single-threaded-gc'] } } }));
    assert.deepEqual(specs.map((s) => [s.name, s.nodeArgs]), [['edge', ['--single-threaded-gc']], ['app-1', ['--single-threaded-gc']], ['app-2', ['--single-threaded-gc']]]);
  });

  it('refuses a supervisor.nodeArgs entry that is not a flag, naming the key', () => {
    assert.throws(() => loadConfig({ env: {}, overrides: { supervisor: { nodeArgs: ['app.js'] } } }), /supervisor\.nodeArgs/);
  });

  it('gives process n > 1 its own instance id, journal folder and admin port; the first keeps its own', () => {
    const config = loadConfig({ env: {}, overrides: { supervisor: { applications: 2 }, instanceId: 'site-a', prepaid: { journalDir: '/var/lib/tollgate/journal' }, admin: { port: 8088 } } });
    const first = applicationProcessConfig(config, 1);
    const second = applicationProcessConfig(config, 2);
    assert.equal(instanceIdOf(first), 'site-a');
    assert.equal(instanceIdOf(second), 'site-a-app2');
    assert.equal(second.prepaid.journalDir, '/var/lib/tollgate/journal/app2');
    assert.equal(second.admin.port, 8089);
    // Derived ids are stable across restarts: the same config gives the same id.
    const derived = loadConfig({ env: {}, overrides: { supervisor: { applications: 2 } } });
    assert.equal(instanceIdOf(applicationProcessConfig(derived, 2)), `${instanceIdOf(derived)}-app2`);
    assert.equal(applicationProcessConfig(loadConfig({ env: {}, overrides: { admin: { port: 0 } } }), 2).admin.port, 0);
  });

  it('refuses 0 application processes', () => {
    assert.throws(() => loadConfig({ env: {}, overrides: { supervisor: { applications: 0 } } }), /supervisor\.applications/);
  });
});
