import {
  DEFAULT_NODE_URL, DEFAULT_NOTIFIER_URL, FarmctlCommand, NotifyCommand, StatusCommand, UsageError, parseDuration, parseFarmctlArgs,
} from './farmctl-args';

const NOW = new Date('2026-11-24T10:00:00.000Z');

function parse(line: string, env = {}): FarmctlCommand {
  return parseFarmctlArgs(line.split(' ').filter(Boolean), NOW, env);
}

function notify(line: string, env = {}): NotifyCommand {
  const cmd = parse(`notify ${line}`, env);
  if (cmd.command !== 'notify') throw new Error(`parsed as ${cmd.command}`);
  return cmd;
}

function status(line: string, env = {}): StatusCommand {
  const cmd = parse(`status ${line}`, env);
  if (cmd.command !== 'status') throw new Error(`parsed as ${cmd.command}`);
  return cmd;
}

function usageError(argv: string[]): string {
  try {
    parseFarmctlArgs(argv, NOW, {});
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error(`accepted: ${argv.join(' ')}`);
}

const refused = (line: string): string => usageError(line.split(' ').filter(Boolean));

describe('parseFarmctlArgs: notify', () => {
  it('takes a target down for maintenance for 2h (the contract example)', () => {
    const cmd = notify('--target mail --down --reason maintenance --for 2h --kind send', { USER: 'alice' });
    expect(cmd).toEqual({
      command: 'notify',
      notifierUrl: DEFAULT_NOTIFIER_URL,
      json: false,
      body: {
        target: 'mail', available: false, reason: 'maintenance', operatorId: 'alice',
        expectedUpAt: '2026-11-24T12:00:00.000Z', requestKinds: ['send'],
      },
    });
  });

  it('brings a target back up with only the required fields', () => {
    expect(notify('--target mail --up').body).toEqual({ target: 'mail', available: true, operatorId: 'cli' });
  });

  it('keeps every optional field', () => {
    const cmd = parseFarmctlArgs([
      'notify', '--target=db-main', '--resource', '--down', '--reason', 'outage', '--until', '2026-11-24T13:30:00+01:00',
      '--message', 'disk swap, back soon', '--component', 'disk', '--kind', 'send', '--kind', 'read,send', '--priority', '7',
      '--operator', 'op7', '--at', '2026-11-24T11:00:00Z', '--auto-restore', '--notifier', 'http://n:9000/', '--json',
    ], NOW, { NOTIFIER_URL: 'http://ignored:1' });
    expect(cmd).toEqual({
      command: 'notify',
      notifierUrl: 'http://n:9000',
      json: true,
      body: {
        target: 'db-main', targetType: 'resource', available: false, reason: 'outage', operatorId: 'op7',
        downAt: '2026-11-24T11:00:00.000Z', expectedUpAt: '2026-11-24T12:30:00.000Z', autoRestore: true,
        message: 'disk swap, back soon', component: 'disk', requestKinds: ['send', 'read'], priority: 7,
      },
    });
  });

  it('reads --resource NAME as --target NAME --resource', () => {
    expect(notify('--resource db-main --down').body).toMatchObject({ target: 'db-main', targetType: 'resource' });
    expect(notify('--target db-main --resource db-main --up').body).toMatchObject({ target: 'db-main', targetType: 'resource' });
    expect(refused('notify --target a --resource b --down')).toMatch(/different targets/);
  });

  it('counts --for from now, or from --at when the outage is scheduled', () => {
    expect(notify('--target x --down --for 30s').body.expectedUpAt).toBe('2026-11-24T10:00:30.000Z');
    expect(notify('--target x --down --for 15m').body.expectedUpAt).toBe('2026-11-24T10:15:00.000Z');
    expect(notify('--target x --down --for 1d').body.expectedUpAt).toBe('2026-11-25T10:00:00.000Z');
    expect(notify('--target x --down --for 1h30m').body.expectedUpAt).toBe('2026-11-24T11:30:00.000Z');
    expect(notify('--target x --down --at 2026-11-25T08:00:00Z --for 2h').body).toMatchObject({
      downAt: '2026-11-25T08:00:00.000Z', expectedUpAt: '2026-11-25T10:00:00.000Z',
    });
  });

  it('takes the defaults of URL and operator from the environment', () => {
    const cmd = notify('--target x --up', { NOTIFIER_URL: 'https://notifier.example:8443', USER: 'bob' });
    expect(cmd.notifierUrl).toBe('https://notifier.example:8443');
    expect(cmd.body.operatorId).toBe('bob');
    expect(notify('--target x --up', { USER: '' }).body.operatorId).toBe('cli');
  });

  it('accepts the whole system as target', () => {
    expect(notify('--target * --down --reason testing').body.target).toBe('*');
  });

  it.each([
    ['--down', /--target is required/],
    ['--target mail', /one of --down or --up/],
    ['--target mail --up --down', /exclude each other/],
    ['--target mail --down --until 2026-11-24T12:00:00Z --for 2h', /--until and --for exclude/],
    ['--target mail --down --until tomorrow', /bad date for --until/],
    ['--target mail --down --until 2026-02-30T10:00:00Z', /bad date/],
    ['--target mail --down --until 2026-11-24T25:00:00Z', /bad date/],
    ['--target mail --down --at 24/11/2026', /bad date for --at/],
    ['--target mail --down --until 2026-11-24T09:00:00Z', /not in the future/],
    ['--target mail --down --at 2026-11-24T15:00:00Z --until 2026-11-24T14:00:00Z', /later than --at/],
    ['--target mail --down --for 2', /bad duration/],
    ['--target mail --down --for 2w', /bad duration/],
    ['--target mail --down --for -5m', /--for needs a value|bad duration/],
    ['--target mail --down --for 0h', /longer than zero/],
    ['--target mail --down --reason lunch', /bad --reason/],
    ['--target mail --down --priority 10', /bad --priority/],
    ['--target mail --down --priority x', /bad --priority/],
    ['--target mail --down --kind bad/kind', /bad request kind/],
    ['--target mail --down --auto-restore', /needs --until or --for/],
    ['--target mail --up --reason maintenance', /only apply with --down/],
    ['--target mail --up --for 2h', /only apply with --down/],
    ['--target mail --down --node http://x', /only apply to status/],
    ['--target mail --down --notifier ftp://x', /bad URL/],
    ['--target mail --down --notifier nonsense', /bad URL/],
    ['--target mail --down --bogus', /unknown option --bogus/],
    ['--target mail --down -x', /unknown option -x/],
    ['--target mail --down extra', /unexpected argument "extra"/],
    ['--target mail --target web --down', /more than once/],
    ['--target mail --down --message', /--message needs a value/],
    ['--target mail --down --message --up', /--message needs a value/],
    ['--target mail --up=yes', /takes no value/],
  ])('refuses notify %s', (line, why) => {
    expect(refused(`notify ${line}`)).toMatch(why);
  });

  it('refuses a message over 1000 characters', () => {
    expect(usageError(['notify', '--target', 'mail', '--down', '--message', 'x'.repeat(1001)])).toMatch(/at most 1000/);
  });

  it('takes values starting with a dash through --name=value', () => {
    const cmd = parseFarmctlArgs(['notify', '--target', 'mail', '--up', '--message=--all good--', '--component=-disk'], NOW);
    expect(cmd).toMatchObject({ command: 'notify', body: { target: 'mail', available: true, message: '--all good--', component: '-disk' } });
  });
});

describe('parseFarmctlArgs: status', () => {
  it('lists the default node', () => {
    expect(status('')).toEqual({ command: 'status', nodeUrl: DEFAULT_NODE_URL, json: false });
  });

  it('takes the node from the option, else the environment', () => {
    expect(status('--node http://10.0.0.5:3101/').nodeUrl).toBe('http://10.0.0.5:3101');
    expect(status('', { REPEATER_URL: 'http://r:3102' }).nodeUrl).toBe('http://r:3102');
  });

  it('looks up one target and kind', () => {
    expect(status('--target mail --kind send --json')).toEqual({ command: 'status', nodeUrl: DEFAULT_NODE_URL, json: true, target: 'mail', kind: 'send' });
    expect(status('--target mail')).toEqual({ command: 'status', nodeUrl: DEFAULT_NODE_URL, json: false, target: 'mail' });
  });

  it.each([
    ['--kind send', /--kind needs --target/],
    ['--target mail --kind a --kind b', /one --kind/],
    ['--target mail --down', /only apply to notify/],
    ['--node', /--node needs a value/],
    ['--node localhost:3100', /bad URL/],
  ])('refuses status %s', (line, why) => {
    expect(refused(`status ${line}`)).toMatch(why);
  });
});

describe('parseFarmctlArgs: commands and help', () => {
  it.each([['--help'], ['-h'], ['help'], ['notify --help'], ['status -h']])('%s asks for help', (line) => {
    expect(parse(line)).toEqual({ command: 'help' });
  });

  it('refuses no command and unknown commands', () => {
    expect(usageError([])).toMatch(/a command is required/);
    expect(refused('--json')).toMatch(/a command is required/);
    expect(refused('launch --target x')).toMatch(/unknown command "launch"/);
  });
});

describe('parseDuration', () => {
  it('adds up units', () => {
    expect(parseDuration('1d2h3m4s')).toBe(((24 + 2) * 60 + 3) * 60_000 + 4000);
  });
});

describe('parseFarmctlArgs: servers', () => {
  it('lists the poller\'s servers, from $POLLER_URL or the default', () => {
    expect(parse('servers')).toEqual({ command: 'servers', pollerUrl: 'http://127.0.0.1:3200', json: false, server: undefined, poll: false });
    expect(parse('servers --json', { POLLER_URL: 'http://poller:3200/' })).toMatchObject({ pollerUrl: 'http://poller:3200', json: true });
  });

  it('shows or polls one server', () => {
    expect(parse('servers --server node-1 --poll --poller http://p:1')).toEqual({ command: 'servers', pollerUrl: 'http://p:1', json: false, server: 'node-1', poll: true });
  });

  it('refuses what does not apply', () => {
    expect(refused('servers --poll')).toBe('--poll needs --server');
    expect(refused('servers --target mail')).toBe('--target do not apply to servers');
    expect(refused('status --poller http://x')).toBe('--poller only apply to servers');
    expect(refused('notify --target mail --up --server a')).toBe('--server only apply to servers');
  });
});

describe('parseFarmctlArgs: operator tokens', () => {
  it('token create takes a name and scopes', () => {
    expect(parse('token create --name ops --scopes notify,read')).toEqual({ command: 'token-create', name: 'ops', scopes: ['notify', 'read'], json: false });
    expect(parse('token create --name=ci@build --scopes admin --json')).toEqual({ command: 'token-create', name: 'ci@build', scopes: ['admin'], json: true });
  });

  it.each([
    ['token', 'token needs a subcommand: create'],
    ['token revoke --name a', 'unknown token subcommand "revoke"'],
    ['token create --scopes read', '--name is required'],
    ['token create --name ops', '--scopes is required (read, notify, admin)'],
    ['token create --name a/b --scopes read', 'bad --name "a/b": 1-64 of [A-Za-z0-9_.@-]'],
    ['token create --name ops --scopes read,root', 'bad --scopes: unknown scope "root"; choose from read, notify, admin'],
    ['token create --name ops --scopes read --target mail', '--target do not apply to token create'],
    ['status --name ops', '--name only apply to token create'],
  ])('refuses %s', (line, why) => {
    expect(refused(line)).toBe(why);
  });

  it('takes the credential from --token-file, else $FARM_TOKEN, else none', () => {
    expect(status('', { FARM_TOKEN: ' farm_abc\n' }).credential).toEqual({ token: 'farm_abc' });
    expect(status('--token-file /run/secrets/farm', { FARM_TOKEN: 'farm_abc' }).credential).toEqual({ file: '/run/secrets/farm' });
    expect(notify('--target mail --up --token-file=t').credential).toEqual({ file: 't' });
    expect(parse('servers', { FARM_TOKEN: 'farm_x' })).toMatchObject({ credential: { token: 'farm_x' } });
    expect(status('').credential).toBeUndefined();
  });
});
