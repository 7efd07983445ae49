/**
 * Running a sink's batch script: one EVALSHA per batch (loaded with SCRIPT LOAD on first use, and
 * again after a restart emptied the script cache). Arguments go as one array, never spread: a batch
 * of 100,000 rows is millions of arguments.
 *
 * Why a Lua script: Redis runs it atomically — no other command interleaves, and the batch-id check
 * and the writes are one unit — and it is one command, so a retry after a lost connection either
 * finds the batch recorded (the script ran) or runs it whole (it did not). `#!lua` makes Redis 7
 * refuse the whole script up front when it is out of memory, instead of failing half way.
 */
import { createHash } from 'node:crypto';
import { Command, type Redis } from 'ioredis';

export class BatchScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: Redis, keys: readonly string[], args: readonly (string | Buffer)[]): Promise<unknown> {
    const send = () => {
      const all: (string | Buffer | number)[] = [this.sha, keys.length, ...keys];
      for (let i = 0; i < args.length; i++) all.push(args[i]!);
      const cmd = new Command('evalsha', all, { replyEncoding: 'utf8' });
      client.sendCommand(cmd);
      return cmd.promise;
    };
    try {
      return await send();
    } catch (e) {
      if (!/NOSCRIPT/.test(String((e as Error).message))) throw plain(e);
      await client.script('LOAD', this.source);
      return send().catch((x: unknown) => Promise.reject(plain(x)));
    }
  }
}

/** The error without ioredis' `command` (which carries every argument: a whole batch of rows). */
function plain(e: unknown): unknown {
  if (!(e instanceof Error) || !('command' in e)) return e;
  const out = new Error(e.message);
  out.name = e.name;
  return out;
}
