import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { BaseEnv, KeysFileUnlessAuthOff } from './env';

/** Environment of a repeater node (the repeater app, or any app importing the availability module). */
export class NodeEnv extends BaseEnv {
  @IsString({ message: 'NODE_ID is required: a unique id of this node' }) @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'NODE_ID must be 1-64 of [A-Za-z0-9_-]' })
  NODE_ID!: string;

  /** The keyring a node signs and checks its peers' commands with (handshake, ring, sync; see FARM_AUTH). */
  @KeysFileUnlessAuthOff()
  FARM_KEYS_FILE?: string;

  /**
   * How the farm's processes meet the broker. `per-process` (the default): each as its own user
   * with least privilege (see scripts/broker-users.js); this node's RABBITMQ_URL must name the
   * user `<ns>.node.<NODE_ID>`, and it accepts a re-broadcast only when its `user_id` is the
   * origin node's user. `shared`: one user for all (development, or a broker without per-process
   * users): a re-broadcast need only name its origin, and the node warns at start.
   */
  @IsIn(['per-process', 'shared'], { message: 'FARM_BROKER_USERS must be per-process or shared' })
  FARM_BROKER_USERS: 'per-process' | 'shared' = 'per-process';

  /** This server's id for its corrected clock (see the attendant); default NODE_ID. */
  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/, { message: 'SERVER_ID must be 1-64 of [A-Za-z0-9._-]' })
  SERVER_ID?: string;

  /** URL where peers and operators reach this node's HTTP API. */
  @IsOptional() @IsString() @Matches(/^https?:\/\//)
  NODE_ADDRESS?: string;

  /** JSON or YAML file: applications, the resources each depends on. */
  @IsOptional() @IsString()
  APP_DEPENDENCIES?: string;

  /** Comma-separated reference peers for the handshake; empty = random live nodes. */
  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9_,-]*$/)
  SYNC_PEERS?: string;

  @IsIn(['serial', 'parallel'])
  SYNC_MODE: 'serial' | 'parallel' = 'parallel';

  @IsInt() @Min(0) @Max(64)
  SYNC_PEER_COUNT = 2;

  @IsInt() @Min(50) @Max(120_000)
  SYNC_TIMEOUT_MS = 3000;

  /** How long restore, queue catch-up and the first handshake may hold consumers paused. */
  @IsInt() @Min(100) @Max(600_000)
  STARTUP_TIMEOUT_MS = 15_000;

  @IsInt() @Min(1) @Max(5000)
  PREFETCH = 200;

  /**
   * Ordinary re-broadcasts: from FANOUT_LINGER_MIN_RATE notifications per second taken from
   * ingress by this node on, a re-broadcast waits up to this long for others to share its message
   * (0: never; each event-loop turn's notifications leave at the end of the turn). Below that
   * rate, and for urgent re-broadcasts always, they leave at once.
   */
  @IsInt() @Min(0) @Max(1000)
  FANOUT_LINGER_MS = 10;

  @IsInt() @Min(1)
  FANOUT_LINGER_MIN_RATE = 200;

  /** A node queue nobody consumes for this long is deleted by the broker (nodes that never return). */
  @IsInt() @Min(60_000)
  NODE_QUEUE_EXPIRES_MS = 7 * 24 * 3600 * 1000;

  @IsInt() @Min(0) @Max(10_000_000)
  AUDIT_MAX = 10_000;

  /** How often the node drops "available" entries older than RETENTION_MS (also at every start). */
  @IsInt() @Min(1000)
  RETENTION_SWEEP_MS = 10 * 60 * 1000;

  /**
   * Entries dated further ahead than this (only an older version could have let them in) are
   * dropped at start and at every sweep. Far above MAX_FUTURE_MS plus any clock correction.
   */
  @IsInt() @Min(60_000)
  FUTURE_DROP_MS = 24 * 3600 * 1000;

  /** Each node pings its two buddies this often. */
  @IsInt() @Min(50) @Max(60_000)
  PING_INTERVAL_MS = 1000;

  /** Consecutive missed pings before the indirect probe (and, if it fails too, the cut). */
  @IsInt() @Min(1) @Max(100)
  PING_MISSES = 3;

  /** A node reads its own row of the ring table again this often even with no reason to doubt it (notices and missed pings make it read sooner). */
  @IsInt() @Min(1000) @Max(3_600_000)
  RING_REFRESH_MS = 30_000;
}

export class RepeaterEnv extends NodeEnv {
  @IsInt() @Min(0) @Max(65535)
  override HTTP_PORT = 3100;
}
