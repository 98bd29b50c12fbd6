import { readFileSync } from 'node:fs';
import { Inject, Injectable, InjectionToken, Logger, OnApplicationShutdown, OnModuleInit, Optional, Provider } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type Redis from 'ioredis';
import { ConfigError } from '../domain/errors';
import { MetricsService } from '../metrics/metrics.service';
import { CommandSigner, CommandVerifier, RedisNonceCache } from './command-verifier';
import { Keyring, parseKeyFile } from './keyring';
import { COMMAND_VERIFIER, OPERATOR_AUTH, OperatorAuth, OperatorGuard } from './operator.guard';
import { RefusalLog } from './refusal-log';
import { TokenStore } from './token-store';

export const KEYRING = Symbol('KEYRING');
export const COMMAND_SIGNER = Symbol('COMMAND_SIGNER');
/** Where this process records the commands it refused, for the poller's feed (undefined with FARM_AUTH=off or no identity). */
export const REFUSAL_LOG = Symbol('REFUSAL_LOG');
const TOKEN_STORE = Symbol('TOKEN_STORE');

/** What the auth layer reads of an app's environment. */
export interface AuthEnv {
  FARM_NAMESPACE: string;
  FARM_AUTH: 'on' | 'off';
  FARM_TOKENS_FILE?: string;
  FARM_PUBLIC_READS: 'true' | 'false';
  FARM_KEYS_FILE?: string;
}

/** Who this process is when it signs and receives commands, and where its nonces and clock live. */
export interface AuthIdentity {
  id: string;
  aliases?: string[];
  /** Injection token of the process's Redis client (the nonce cache). */
  redis: InjectionToken;
  /** Injection token of an object with `clock.now()`, the corrected clock, where there is one. */
  clock?: InjectionToken;
  /** How far from its clock a command's time may be, either way (default 30 s). */
  windowMs?: number;
}

/** The keyring of FARM_KEYS_FILE; a missing or invalid file is a ConfigError naming it. */
export function loadKeyring(path: string): Keyring {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`FARM_KEYS_FILE ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseKeyFile(text, `FARM_KEYS_FILE ${path}`);
}

/** Watches the token file while the app runs (not from a constructor: no timers before init). */
@Injectable()
class TokenWatch implements OnModuleInit, OnApplicationShutdown {
  constructor(@Optional() @Inject(TOKEN_STORE) private readonly store?: TokenStore) {}
  onModuleInit(): void {
    this.store?.watch();
  }
  onApplicationShutdown(): void {
    this.store?.close();
  }
}

/**
 * The providers of "who may do what" for an app module: the operator tokens and the guard that
 * checks them on every route, and, for a process with an identity, the keyring, a signer and a
 * verifier of signed commands. The files are read here, while the module is defined, so a
 * missing or invalid one stops the process at boot with a message naming it (exit 78). With
 * FARM_AUTH=off nothing is read and nothing is checked.
 */
export function farmAuthProviders(env: AuthEnv, identity?: AuthIdentity): Provider[] {
  const off = env.FARM_AUTH === 'off';
  const log = new Logger('Auth');
  const store = off ? undefined : new TokenStore(required(env.FARM_TOKENS_FILE, 'FARM_TOKENS_FILE'), log);
  const keyring = off || !identity ? undefined : loadKeyring(required(env.FARM_KEYS_FILE, 'FARM_KEYS_FILE'));
  const auth: OperatorAuth = { mode: off ? 'off' : 'on', publicReads: env.FARM_PUBLIC_READS === 'true', tokens: () => store?.entries() ?? [] };
  const providers: Provider[] = [
    { provide: OPERATOR_AUTH, useValue: auth },
    { provide: TOKEN_STORE, useValue: store },
    TokenWatch,
    { provide: APP_GUARD, useClass: OperatorGuard },
    { provide: KEYRING, useValue: keyring },
  ];
  if (!identity) return providers;
  const clockOf = (c?: { clock: { now(): number } }) => (c ? () => c.clock.now() : () => Date.now());
  providers.push(
    {
      provide: COMMAND_SIGNER,
      inject: identity.clock ? [identity.clock] : [],
      useFactory: (c?: { clock: { now(): number } }) => (keyring ? new CommandSigner(identity.id, keyring, clockOf(c)) : undefined),
    },
    {
      provide: REFUSAL_LOG,
      inject: [identity.redis],
      useFactory: (redis: Redis) => (off ? undefined : new RefusalLog(redis, env.FARM_NAMESPACE)),
    },
    {
      provide: COMMAND_VERIFIER,
      inject: [MetricsService, identity.redis, REFUSAL_LOG, ...(identity.clock ? [identity.clock] : [])],
      useFactory: (metrics: MetricsService, redis: Redis, refusals: RefusalLog | undefined, c?: { clock: { now(): number } }) =>
        keyring
          ? new CommandVerifier({
              receiver: identity.id,
              aliases: identity.aliases,
              keyring,
              nonces: new RedisNonceCache(redis, env.FARM_NAMESPACE),
              now: clockOf(c),
              windowMs: identity.windowMs,
              onRefused: (r) => {
                metrics.signedCommands.inc({ command: r.command, outcome: r.reason });
                log.warn(`refused a signed ${r.command} command (${r.reason}) claiming to come from ${r.claimedSender ?? 'nobody'}: ${r.message}`);
                refusals?.record(r);
              },
              onAccepted: (command) => metrics.signedCommands.inc({ command, outcome: 'accepted' }),
            })
          : undefined,
    },
  );
  return providers;
}

function required(value: string | undefined, name: string): string {
  if (!value) throw new ConfigError(`${name} is required, or set FARM_AUTH=off for development`);
  return value;
}
