import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RestartRecord } from '../libs/common/src/monitoring/compilation';
import { AppProcess } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { Feed } from './support/feed';
import { TestFarm } from './support/test-farm';

jest.setTimeout(90_000);

/**
 * Self-healing (issue 12): after a failed login probe, the attendant restarts the services found
 * down that have a restart command, within the restart limit (then stops and says so once), and
 * reports each restart in its compilation; the poller raises them on its feed.
 */
describe('the attendant restarts services found down after a failed login probe', () => {
  const farm = new TestFarm('restarts');
  const dir = mkdtempSync(join(tmpdir(), 'restarts-'));
  const flag = join(dir, 'mail.up');
  let attendant: AppProcess;
  let poller: AppProcess;
  const feed = new Feed();

  const restarts = async () => (await attendant.get<{ restarts?: RestartRecord[]; services: { name: string; status: string }[] }>('/v1/compilation'));

  beforeAll(async () => {
    await farm.startNode('n1');
    poller = await farm.startPoller({ POLL_INTERVALS_MS: '500,250', POLL_TICK_MS: '100' });
    await feed.open(poller.url, farm.auth());
    attendant = await farm.startAttendant('srv-r', {
      probes: { login: { intervalMs: 400 }, refresh: { enabled: false } },
      services: [
        // Up while its flag file exists; its restart creates the file.
        { name: 'mail', mandatory: false, check: { kind: 'command', command: 'sh', args: ['-c', `test -f ${flag} || exit 2`] }, restart: { command: 'touch', args: [flag] } },
        // Down for good: its restart runs and changes nothing.
        { name: 'stuck', mandatory: false, check: { kind: 'command', command: 'sh', args: ['-c', 'exit 2'] }, restart: { command: 'true' } },
      ],
      failover: { thresholds: { failover: 90, connection: 70 }, restarts: { max: 2, windowMs: 600_000 } },
    }, {
      // The login probe's credentials are wrong: every probe fails, as when the mail system is down.
      PROBE_RABBITMQ_URL: 'amqp://nobody:wrong@127.0.0.1:5672',
    });
  }, 90_000);

  afterAll(async () => {
    await feed.close();
    await farm.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('restarts a service that is down and finds it up again', async () => {
    const c = await waitFor('mail restarted', async () => {
      const r = await restarts();
      return r.restarts?.some((x) => x.service === 'mail' && x.outcome === 'restarted') ? r : undefined;
    }, 20_000, 200);
    expect(existsSync(flag)).toBe(true);
    expect(c.services.find((s) => s.name === 'mail')?.status).toBe('ok');
    expect(c.restarts?.filter((x) => x.service === 'mail')).toHaveLength(1); // up since: not restarted again
  });

  it('stops restarting a service after the limit, and says so once', async () => {
    const c = await waitFor('stuck given up', async () => {
      const r = await restarts();
      return r.restarts?.some((x) => x.service === 'stuck' && x.outcome === 'stopped') ? r : undefined;
    }, 20_000, 200);
    const stuck = () => (c.restarts ?? []).filter((x) => x.service === 'stuck').map((x) => x.outcome);
    expect(stuck()).toEqual(['failed', 'failed', 'stopped']);
    // Three more failed probes later, nothing more was tried.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await restarts()).restarts?.filter((x) => x.service === 'stuck').map((x) => x.outcome)).toEqual(['failed', 'failed', 'stopped']);
  });

  it('the poller raises each restart on its feed', async () => {
    const raised = await waitFor('the restarts on the feed', async () => {
      const r = feed.events.filter((e) => e.event === 'restart');
      return r.length >= 4 ? r : undefined;
    }, 15_000, 100);
    const said = (e: (typeof raised)[number]) => `${e.data.serverId} ${e.data.service} ${e.data.outcome}`;
    // In the order they happened, each once.
    expect(raised.map(said)).toEqual(['srv-r mail restarted', 'srv-r stuck failed', 'srv-r stuck failed', 'srv-r stuck stopped']);
  });
});
