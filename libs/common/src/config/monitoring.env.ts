import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { BaseEnv, KeysFileUnlessAuthOff } from './env';
import { DEFICIENCY_KINDS } from '../monitoring/compilation';
import { MAX_CLOCK_CORRECTION_MS } from '../monitoring/clock';

const KIND_LIST = new RegExp(`^((${DEFICIENCY_KINDS.join('|')})(,(${DEFICIENCY_KINDS.join('|')}))*)?$`);

/** Environment of an attendant (one per monitored server). */
export class AttendantEnv extends BaseEnv {
  @IsInt() @Min(0) @Max(65535)
  override HTTP_PORT = 3300;

  @IsString({ message: 'SERVER_ID is required: the id of the server this attendant reports on' }) @Matches(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/, { message: 'SERVER_ID must be 1-64 of [A-Za-z0-9._-]' })
  SERVER_ID!: string;

  /** The keyring that proves the poller's queries and clock commands (see FARM_AUTH). */
  @KeysFileUnlessAuthOff()
  FARM_KEYS_FILE?: string;

  /** JSON or YAML file: the services to report, their checks and the applications each affects. */
  @IsString({ message: 'ATTENDANT_CONFIG is required: path of the JSON or YAML file listing the services to report' })
  ATTENDANT_CONFIG!: string;

  /** The login probe's own broker credentials (a user allowed only its mailbox); default RABBITMQ_URL. */
  @IsOptional() @IsString() @Matches(/^amqps?:\/\//, { message: 'PROBE_RABBITMQ_URL must be an amqp:// or amqps:// URL' })
  PROBE_RABBITMQ_URL?: string;

  /** The local repeater, overriding the file's `repeaterUrl`. */
  @IsOptional() @IsString() @Matches(/^https?:\/\//, { message: 'REPEATER_URL must be an http(s) URL' })
  REPEATER_URL?: string;

  /** How often the attendant refreshes its registration in Redis. */
  @IsInt() @Min(100) @Max(3_600_000)
  REGISTER_INTERVAL_MS = 30_000;

  /** How often the server's load is sampled (issue 12): the server's own, the system's, peers', services'. */
  @IsInt() @Min(100) @Max(3_600_000)
  LOAD_INTERVAL_MS = 1000;

  /** Simulates a drifting hardware clock (demos and tests); leave 0 in production. */
  @IsInt() @Min(-86_400_000) @Max(86_400_000)
  CLOCK_SKEW_MS = 0;

  /**
   * The largest total clock correction this attendant keeps, either way (ms): a set-clock that
   * would take it further is clamped to the bound. At most half a set-clock command's range, so
   * the poller can always bring the correction back with one command.
   */
  @IsInt() @Min(0) @Max(MAX_CLOCK_CORRECTION_MS, { message: `CLOCK_MAX_CORRECTION_MS must not be greater than ${MAX_CLOCK_CORRECTION_MS} (half a set-clock command's range)` })
  CLOCK_MAX_CORRECTION_MS = 3_600_000;
}

/** Environment of the poller. */
export class PollerEnv extends BaseEnv {
  @IsInt() @Min(0) @Max(65535)
  override HTTP_PORT = 3200;

  /** The keyring the poller signs its queries and clock commands with (see FARM_AUTH). */
  @KeysFileUnlessAuthOff()
  FARM_KEYS_FILE?: string;

  /** Poll intervals per list level, comma-separated ms: normal, critical, then faster levels. */
  @IsString() @Matches(/^\d+(,\d+)+$/, { message: 'POLL_INTERVALS_MS must be at least two comma-separated numbers of ms (normal,critical[,faster...])' })
  POLL_INTERVALS_MS = '900000,120000';

  /** Queries in flight at once. */
  @IsInt() @Min(1) @Max(10_000)
  POLL_CONCURRENCY = 64;

  /** How long one query may take before the server counts as unresponsive. */
  @IsInt() @Min(50) @Max(600_000)
  POLL_TIMEOUT_MS = 5000;

  /** How often the scheduler looks for servers due. */
  @IsInt() @Min(10) @Max(60_000)
  POLL_TICK_MS = 1000;

  /** Deficiency kinds that move a server to (a faster level of) the critical list. */
  @IsString() @Matches(KIND_LIST, { message: `ESCALATE_ON must be a comma-separated list of ${DEFICIENCY_KINDS.join(', ')}` })
  ESCALATE_ON = 'unresponsive,bad-reply,service-critical,service-unknown,login-probe,refresh-probe';

  /** Services (by name, comma-separated) whose deficiency of any kind moves a server to the critical list too, e.g. `directory`. */
  @IsString() @Matches(/^([A-Za-z0-9._:-]{1,128}(,[A-Za-z0-9._:-]{1,128})*)?$/, { message: 'ESCALATE_SERVICES must be a comma-separated list of service names' })
  ESCALATE_SERVICES = '';

  /** Deficiency kinds of mandatory services that make their applications unavailable. */
  @IsString() @Matches(KIND_LIST, { message: `NOTIFY_ON must be a comma-separated list of ${DEFICIENCY_KINDS.join(', ')}` })
  NOTIFY_ON = 'service-critical';

  /** Consecutive agreeing results before the poller declares an application down or up again. */
  @IsInt() @Min(1) @Max(100)
  NOTIFY_AFTER = 2;

  /** A server clock further than this from the poller's is set (ms). */
  @IsInt() @Min(1) @Max(3_600_000)
  CLOCK_MAX_DIFF_MS = 1000;

  /**
   * A clock sample whose network round trip is longer than this is not read as drift (ms): the
   * offset's error is up to half the round trip (a query waiting in a backlog looks like drift).
   */
  @IsInt() @Min(1) @Max(600_000)
  CLOCK_MAX_RTT_MS = 1000;

  /** How long the active poller's lease lasts without renewal; a standby takes over after it. */
  @IsInt() @Min(300) @Max(600_000)
  POLLER_LEASE_MS = 10_000;

  /** This poller's id for the lease (default: host name and process id). */
  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9._:-]{1,128}$/, { message: 'POLLER_ID must be 1-128 of [A-Za-z0-9._:-]' })
  POLLER_ID?: string;

  /** Live-feed clients (`GET /v1/events`) served at once; one more gets 503 until a slot frees. */
  @IsInt() @Min(1) @Max(100_000)
  POLLER_MAX_SSE_CLIENTS = 100;

  /** Servers to poll besides those registered in Redis, comma-separated ids. */
  @IsOptional() @IsString() @Matches(/^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63})?(,[A-Za-z0-9_-][A-Za-z0-9._-]{0,63})*$/, { message: 'POLLER_SERVERS must be comma-separated server ids' })
  POLLER_SERVERS?: string;
}

export function splitList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}
