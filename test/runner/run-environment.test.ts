import { userInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { checkRunAsUser, lookUpUser, runEnvironment } from '../../src/runner/run-environment.js';

const user = { name: 'alice', home: '/home/alice', shell: '/bin/bash' };

describe('runEnvironment', () => {
  const daemonEnv = {
    PATH: '/opt/bin:/usr/bin',
    LANG: 'C.UTF-8',
    LC_TIME: 'en_GB.UTF-8',
    TZ: 'Europe/Paris',
    SCHEDULER_TOKEN: 'the-secret',
    AWS_SECRET_ACCESS_KEY: 'also-secret',
    HOME: '/home/someone',
    npm_config_cache: '/home/someone/.npm',
  };

  it("passes only the documented base from the daemon's environment: never its token or anything else", () => {
    const env = runEnvironment({ daemonEnv, user, daemonVariables: {}, taskVariables: {}, runVariables: {} });
    expect(env).toEqual({
      PATH: '/opt/bin:/usr/bin',
      LANG: 'C.UTF-8',
      LC_TIME: 'en_GB.UTF-8',
      TZ: 'Europe/Paris',
      HOME: '/home/alice',
      USER: 'alice',
      LOGNAME: 'alice',
      SHELL: '/bin/bash',
    });
  });

  it('gives a PATH when the daemon has none', () => {
    expect(runEnvironment({ daemonEnv: {}, user, daemonVariables: {}, taskVariables: {}, runVariables: {} }).PATH).toBe('/usr/local/bin:/usr/bin:/bin');
  });

  it("layers the config's variables, then the task's, then the run's SCHEDULER_* ones, each winning over the one before", () => {
    const env = runEnvironment({
      daemonEnv,
      user,
      home: '/tmp/scratch',
      daemonVariables: { PATH: '/config/bin', REGION: 'eu', LEVEL: 'config' },
      taskVariables: { LEVEL: 'task', HOME: '/task/home' },
      runVariables: { SCHEDULER_RUN: '3' },
    });
    expect(env).toMatchObject({ PATH: '/config/bin', REGION: 'eu', LEVEL: 'task', HOME: '/task/home', SCHEDULER_RUN: '3' });
    expect(runEnvironment({ daemonEnv, user, home: '/tmp/scratch', daemonVariables: {}, taskVariables: {}, runVariables: {} }).HOME).toBe('/tmp/scratch');
  });
});

describe('users', () => {
  it('looks users up in the host database', () => {
    expect(lookUpUser('root')).toMatchObject({ name: 'root', uid: 0, gid: 0, home: '/root' });
    expect(lookUpUser('no-such-user-here')).toBeUndefined();
  });

  it('a daemon may always run scripts as itself; only root may run them as another user', () => {
    const self = userInfo();
    const daemon = { name: self.username, uid: self.uid, gid: self.gid, home: self.homedir, shell: '/bin/sh' };
    expect(checkRunAsUser(self.username, daemon)).toBeNull();
    expect(checkRunAsUser('no-such-user-here', daemon)).toBe('there is no user "no-such-user-here" on this host');
    const notRoot = { name: 'svc', uid: 4242, gid: 4242, home: '/srv', shell: '/bin/sh' };
    expect(checkRunAsUser('nobody', notRoot)).toBe('the daemon runs as svc, not as root, so it can run scripts only as svc; start the daemon as root to run them as nobody');
    expect(checkRunAsUser('nobody', { ...notRoot, name: 'root', uid: 0 })).toBeNull();
  });
});
