/**
 * kafkaGroupMember: one query across several processes (and machines), with Kafka's consumer-group
 * protocol deciding who runs what (Kafka Streams' model).
 *
 * A *task* is the work of one input partition number p: partition p of every input topic (the
 * topics must be co-partitioned: the same number of partitions, keyed alike). Each task is an
 * ordinary Millrace query that reads only its partitions (`kafkaSource({ assign: task.assign })`)
 * and keeps its own checkpoint under `checkpointRoot/task-<p>` — offsets, state, sink ids — so
 * every guarantee of a one-process query holds per task (exactly-once sinks key their
 * transactions and batch ids by the task's checkpoint).
 *
 *   member A ─┐                                    ┌─ task-0 query ─┐
 *   member B ─┼─ group <groupId> on topics[0] ─────┼─ task-1 query ─┼─ checkpointRoot/task-<p>
 *   member C ─┘  (librdkafka's group protocol:     └─ …             ┘  (storage every member reads)
 *               join, sync, heartbeats; a member
 *               that stops heartbeating is dropped)
 *
 *   rebalance (eager): every member is told to revoke what it had
 *     revoke  → stop those task queries (a batch in flight finishes: its commit is durable)
 *             → only then unassign(): librdkafka holds the rebalance until every member has,
 *               so no partition is given to a new owner while its old owner still runs it
 *   assign  → pause the partitions (this consumer only holds membership; the tasks read)
 *           → start a task query per partition; its checkpoint is the restore (offsets, state)
 *
 *   member SIGKILLed → the group drops it after sessionTimeoutMs and deals its partitions to
 *   the others, which resume each task from its checkpoint: a batch cut short is replayed with
 *   the offsets its offsets log recorded, and sinks skip what that batch already committed.
 *
 * Mutual exclusion does not rest on the rebalance alone: a task's checkpoint is locked by the
 * process running it, and a task start that finds it locked by a live process (an old owner still
 * stopping) waits and tries again.
 */
import type { KafkaConsumer, LibrdKafkaError, TopicPartition } from '@confluentinc/kafka-javascript';
import * as path from 'node:path';
import { type Logger, MillraceError, type StreamingQuery, silentLogger } from 'millrace';
import {
  type KafkaOptions,
  checkTopicName,
  positiveInt,
  validateBootstrap,
  validateKafkaOptions,
} from '../client/config.ts';
import { externalError, optionError, userError } from '../client/errors.ts';
import { loadKafkaClient } from '../client/loadClient.ts';
import {
  type ClientEnv,
  connect,
  disconnect,
  listTopics,
  newClient,
  routeClientEvents,
} from '../client/native.ts';

export interface KafkaGroupMemberOptions {
  readonly bootstrapServers: string;
  /** The group: every member of one scaled-out query uses the same id. */
  readonly groupId: string;
  /**
   * The input topics. Task p reads partition p of each; they must have the same number of
   * partitions (checked at start). The group's membership follows the first.
   */
  readonly topics: string | readonly string[];
  /**
   * Where the tasks' checkpoints live (`<checkpointRoot>/task-<p>`): storage every member can
   * read and write (a local directory for several processes on one machine; a shared file system
   * across machines).
   */
  readonly checkpointRoot: string;
  /**
   * Start task `task`'s query: read `task.assign` (kafkaSource({ assign })), checkpoint at
   * `task.checkpointLocation`, name it `task.queryName`. Called again for the same task after it
   * moved away and back, or after a crash elsewhere.
   */
  readonly startTask: (task: GroupTask) => Promise<StreamingQuery>;
  /** A member that sends no heartbeat for this long is dropped and its tasks move (default 10 s). */
  readonly sessionTimeoutMs?: number;
  /** Extra librdkafka properties for the membership consumer (security settings, …). */
  readonly kafkaOptions?: KafkaOptions;
  readonly log?: Logger;
}

export interface GroupTask {
  /** `task-<p>`. */
  readonly id: string;
  readonly partition: number;
  /** Partition p of every input topic, for kafkaSource({ assign }). */
  readonly assign: Readonly<Record<string, readonly number[]>>;
  readonly checkpointLocation: string;
  /** `<groupId>-task-<p>`. */
  readonly queryName: string;
}

export type GroupTaskState = 'starting' | 'running' | 'stopping';

export interface GroupTaskStatus {
  readonly id: string;
  readonly partition: number;
  readonly state: GroupTaskState;
  /** When this member took the task (epoch ms). */
  readonly since: number;
  /** How long starting took: opening its checkpoint, deciding recovery, opening connectors (ms). */
  readonly startMs: number | null;
  /** The last committed batch this member ran for it. */
  readonly lastBatchId: number | null;
  /** Input rows of the batches this member ran for it (as far as the query's recent progress keeps). */
  readonly numInputRows: number;
}

export interface GroupMemberStatus {
  readonly groupId: string;
  readonly memberId: string | null;
  readonly topics: readonly string[];
  readonly partitions: number;
  /** Rebalances this member took part in (assignments received). */
  readonly rebalances: number;
  readonly tasks: readonly GroupTaskStatus[];
}

interface RunningTask {
  readonly task: GroupTask;
  state: GroupTaskState;
  readonly since: number;
  startMs: number | null;
  query: StreamingQuery | null;
  /** Set when the task was revoked while starting: stop it as soon as it has started. */
  revoked: boolean;
}

const WHERE = 'kafkaGroupMember';
/** How long a task start waits between tries while another process holds its checkpoint. */
const LOCKED_RETRY_MS = 500;

/** Join the group and run the tasks it assigns to this member until close(). */
export async function kafkaGroupMember(options: KafkaGroupMemberOptions): Promise<KafkaGroupMember> {
  const member = new KafkaGroupMember(options);
  await member.start();
  return member;
}

export class KafkaGroupMember {
  private readonly bootstrap: string;
  private readonly topics: readonly string[];
  private readonly kafkaOptions: KafkaOptions;
  private readonly sessionTimeoutMs: number;
  private readonly log: Logger;
  private readonly env: ClientEnv;
  private consumer: KafkaConsumer | null = null;
  private partitionCount = 0;
  private rebalances = 0;
  private readonly tasks = new Map<number, RunningTask>();
  /** Rebalance steps run one after another, in the order the group sent them. */
  private steps: Promise<void> = Promise.resolve();
  private closing = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private failure: MillraceError | null = null;
  private readonly ended: Promise<void>;
  private endWith!: (failure: MillraceError | null) => void;

  constructor(private readonly options: KafkaGroupMemberOptions) {
    if (options === null || typeof options !== 'object') {
      throw optionError(
        WHERE,
        'pass an options object: { bootstrapServers, groupId, topics, checkpointRoot, startTask }',
      );
    }
    this.bootstrap = validateBootstrap(WHERE, options.bootstrapServers);
    if (typeof options.groupId !== 'string' || !/^[A-Za-z0-9._-]{1,200}$/.test(options.groupId)) {
      throw optionError(
        WHERE,
        `"groupId" must be 1–200 letters, digits, '.', '_' or '-', got ${JSON.stringify(options.groupId)}`,
      );
    }
    const topics = typeof options.topics === 'string' ? [options.topics] : options.topics;
    if (!Array.isArray(topics) || topics.length === 0) {
      throw optionError(
        WHERE,
        `"topics" must name the input topic(s), got ${JSON.stringify(options.topics)}`,
      );
    }
    this.topics = topics.map((t) => checkTopicName(WHERE, 'topics', t));
    if (typeof options.checkpointRoot !== 'string' || options.checkpointRoot.trim() === '') {
      throw optionError(
        WHERE,
        `"checkpointRoot" must be a directory, got ${JSON.stringify(options.checkpointRoot)}`,
      );
    }
    if (typeof options.startTask !== 'function') {
      throw optionError(
        WHERE,
        '"startTask" must be a function (task) => Promise<StreamingQuery> that starts the task\'s query',
      );
    }
    this.sessionTimeoutMs = positiveInt(WHERE, 'sessionTimeoutMs', options.sessionTimeoutMs, 1000) ?? 10_000;
    this.kafkaOptions = validateKafkaOptions(WHERE, options.kafkaOptions, {});
    this.log = options.log ?? silentLogger;
    this.env = {
      bootstrap: this.bootstrap,
      kafkaOptions: this.kafkaOptions,
      log: this.log,
      owner: { group: options.groupId },
    };
    this.ended = new Promise((resolve, reject) => {
      this.endWith = (f) => (f ? reject(f) : resolve());
    });
    // A member that fails is awaited through done(); without a listener the rejection is not unhandled.
    this.ended.catch(() => undefined);
  }

  /** Resolves when the member was closed; rejects with the error of a task that failed (then every task is stopped). */
  done(): Promise<void> {
    return this.ended;
  }

  status(): GroupMemberStatus {
    const memberId = (this.consumer as unknown as { memberid?: () => string } | null)?.memberid?.() ?? null;
    return {
      groupId: this.options.groupId,
      memberId: memberId || null,
      topics: this.topics,
      partitions: this.partitionCount,
      rebalances: this.rebalances,
      tasks: [...this.tasks.values()]
        .sort((a, b) => a.task.partition - b.task.partition)
        .map((t) => ({
          id: t.task.id,
          partition: t.task.partition,
          state: t.state,
          since: t.since,
          startMs: t.startMs,
          lastBatchId: t.query?.lastProgress?.batchId ?? null,
          numInputRows: t.query?.recentProgress.reduce((n, p) => n + p.numInputRows, 0) ?? 0,
        })),
    };
  }

  /** @internal */
  async start(): Promise<void> {
    const Kafka = await loadKafkaClient();
    const consumer = newClient(
      () =>
        new Kafka.KafkaConsumer(
          {
            'bootstrap.servers': this.bootstrap,
            'group.id': this.options.groupId,
            'enable.auto.commit': false,
            'session.timeout.ms': this.sessionTimeoutMs,
            'heartbeat.interval.ms': Math.max(100, Math.floor(this.sessionTimeoutMs / 5)),
            'partition.assignment.strategy': 'range',
            ...this.kafkaOptions,
            rebalance_cb: (err: LibrdKafkaError, assignment: TopicPartition[]) =>
              this.onRebalance(Kafka.CODES.ERRORS, err, assignment),
          } as never,
          {},
        ),
      WHERE,
      this.env,
    );
    routeClientEvents(consumer, this.env);
    this.consumer = consumer;
    await connect(consumer, 30_000, this.env, `${WHERE}: connecting`);
    await this.checkCoPartitioned(consumer);
    consumer.subscribe([this.topics[0]!]);
    this.poll();
    this.log.info('joined the group', {
      group: this.options.groupId,
      topics: this.topics.join(','),
      partitions: this.partitionCount,
    });
  }

  /** Every input topic must exist with the same number of partitions: task p reads partition p of each. */
  private async checkCoPartitioned(consumer: KafkaConsumer): Promise<void> {
    const all = await listTopics(consumer, 30_000, this.env);
    const counts = this.topics.map((t) => [t, all.get(t)?.length ?? 0] as const);
    const missing = counts.filter(([, n]) => n === 0).map(([t]) => t);
    if (missing.length) {
      await disconnect(consumer);
      throw userError(
        'GROUP_TOPIC_MISSING',
        `${WHERE} ${this.options.groupId}: input topic(s) ${missing.join(', ')} do not exist; create them (every member's tasks are the partitions of ${this.topics[0]})`,
        { group: this.options.groupId },
      );
    }
    const distinct = new Set(counts.map(([, n]) => n));
    if (distinct.size > 1) {
      await disconnect(consumer);
      throw userError(
        'GROUP_NOT_COPARTITIONED',
        `${WHERE} ${this.options.groupId}: the input topics are not co-partitioned (${counts.map(([t, n]) => `${t}: ${n}`).join(', ')}); ` +
          'task p reads partition p of each, so give them the same number of partitions and the same keys, or repartition one into a topic with as many partitions',
        { group: this.options.groupId },
      );
    }
    this.partitionCount = counts[0]![1];
  }

  /**
   * The membership consumer reads nothing (its partitions stay paused), but librdkafka serves
   * rebalances and heartbeats through its poll: keep polling.
   */
  private poll(): void {
    if (this.closing || !this.consumer) return;
    this.consumer.consume(1, () => {
      if (this.closing) return;
      this.pollTimer = setTimeout(() => this.poll(), 100);
    });
  }

  private onRebalance(
    codes: { ERR__ASSIGN_PARTITIONS: number; ERR__REVOKE_PARTITIONS: number },
    err: LibrdKafkaError,
    assignment: TopicPartition[],
  ): void {
    const consumer = this.consumer!;
    const partitions = assignment.filter((a) => a.topic === this.topics[0]).map((a) => a.partition);
    if (err.code === codes.ERR__ASSIGN_PARTITIONS) {
      this.rebalances++;
      consumer.assign(assignment);
      consumer.pause(assignment);
      this.log.info('tasks assigned', { group: this.options.groupId, partitions: partitions.join(',') });
      this.step(() => this.startTasks(partitions));
    } else if (err.code === codes.ERR__REVOKE_PARTITIONS) {
      this.log.info('tasks revoked', { group: this.options.groupId, partitions: partitions.join(',') });
      // The group waits for unassign(): give the partitions up only once their tasks stopped.
      this.step(async () => {
        await this.stopTasks(partitions);
        if (!this.closing) consumer.unassign();
      });
    } else {
      this.log.warn('rebalance error', { group: this.options.groupId, error: err.message });
      this.step(async () => {
        await this.stopTasks([...this.tasks.keys()]);
        if (!this.closing) consumer.unassign();
      });
    }
  }

  private step(fn: () => Promise<void>): void {
    this.steps = this.steps.then(fn).catch((e: unknown) => this.fail(e, null));
  }

  private taskFor(partition: number): GroupTask {
    const id = `task-${partition}`;
    return {
      id,
      partition,
      assign: Object.fromEntries(this.topics.map((t) => [t, [partition]])),
      checkpointLocation: path.join(path.resolve(this.options.checkpointRoot), id),
      queryName: `${this.options.groupId}-${id}`,
    };
  }

  private async startTasks(partitions: readonly number[]): Promise<void> {
    // Started side by side: a member taking over several tasks restores them together.
    await Promise.all(
      partitions
        .filter((p) => !this.tasks.has(p))
        .map(async (p) => {
          const running: RunningTask = {
            task: this.taskFor(p),
            state: 'starting',
            since: Date.now(),
            startMs: null,
            query: null,
            revoked: false,
          };
          this.tasks.set(p, running);
          await this.startTask(running);
        }),
    );
  }

  private async startTask(running: RunningTask): Promise<void> {
    const t0 = performance.now();
    for (;;) {
      if (this.closing || running.revoked) {
        this.tasks.delete(running.task.partition);
        return;
      }
      try {
        running.query = await this.options.startTask(running.task);
        break;
      } catch (e) {
        // The old owner of the task is still stopping (same machine): wait for its lock.
        if (e instanceof MillraceError && e.code === 'CHECKPOINT_IN_USE') {
          await new Promise((r) => setTimeout(r, LOCKED_RETRY_MS));
          continue;
        }
        this.tasks.delete(running.task.partition);
        throw taskError(e, running.task, 'could not start');
      }
    }
    running.startMs = Math.round(performance.now() - t0);
    running.state = 'running';
    this.log.info('task started', { task: running.task.id, startMs: running.startMs });
    const query = running.query;
    void query.awaitTermination().then(
      () => {
        if (running.state !== 'stopping' && !this.closing) {
          this.fail(
            userError(
              'GROUP_TASK_ENDED',
              `task ${running.task.id} of group ${this.options.groupId} ended by itself; a task's query must run until the member stops it (use a continuous trigger)`,
              {
                task: running.task.id,
              },
            ),
            running.task,
          );
        }
      },
      (e: unknown) => {
        if (running.state !== 'stopping') this.fail(e, running.task);
      },
    );
  }

  private async stopTasks(partitions: readonly number[]): Promise<void> {
    await Promise.all(
      partitions.map(async (p) => {
        const running = this.tasks.get(p);
        if (!running) return;
        running.revoked = true;
        if (!running.query) return; // still starting: startTask drops it when its start returns
        running.state = 'stopping';
        try {
          await running.query.stop();
        } catch (e) {
          this.log.warn('task stopped with an error', { task: running.task.id, error: (e as Error).message });
        }
        this.tasks.delete(p);
        this.log.info('task stopped', { task: running.task.id });
      }),
    );
  }

  private fail(e: unknown, task: GroupTask | null): void {
    if (this.failure || this.closing) return;
    this.failure = task ? taskError(e, task, 'failed') : toMillraceError(e);
    this.log.error('group member failed', { group: this.options.groupId, error: this.failure.message });
    void this.close().finally(() => this.endWith(this.failure));
  }

  /** Stop every task (each finishes its batch in flight), leave the group. */
  async close(): Promise<void> {
    if (this.closing) return this.ended.catch(() => undefined);
    this.closing = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    await this.steps.catch(() => undefined);
    for (const t of this.tasks.values()) t.revoked = true;
    await this.stopTasks([...this.tasks.keys()]);
    if (this.consumer) await disconnect(this.consumer);
    this.consumer = null;
    if (!this.failure) this.endWith(null);
  }
}

function toMillraceError(e: unknown): MillraceError {
  if (e instanceof MillraceError) return e;
  return externalError('GROUP_FAILED', `${WHERE}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

function taskError(e: unknown, task: GroupTask, what: string): MillraceError {
  const inner = toMillraceError(e);
  return new MillraceError(inner.code, `task ${task.id} ${what}: ${inner.message}`, {
    domain: inner.domain,
    retryable: inner.retryable,
    context: { ...inner.context, task: task.id },
    cause: e,
  });
}
