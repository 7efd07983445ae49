/**
 * The `millrace` command. bin/millrace.js registers tsx and imports this file,
 * which runs `main(process.argv.slice(2))` and exits with its code.
 */
import {
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_URL,
  LOG_LEVELS,
  SERVER_VERSION,
  type LogLevel,
} from '../defaults.ts';
import { CliError, EXIT, intOption, parse, usageError } from './args.ts';
import type { ProgressMode } from './progressDisplay.ts';

// Commands load their modules when run, so that `--help` does not load the engine and the server.
const remote = () => import('./remote.ts');

const EXIT_CODES = `Exit codes:
  0  success
  1  a query failed (run), or the service refused the request (status/stop/restart), or the checkpoint cannot be read
  2  usage error: unknown command or flag, missing argument
  3  the pipeline file could not be loaded, or its function threw (e.g. a query failed to start)
  4  the HTTP server could not start (port in use; non-loopback --host without a token)
  5  the service at --url could not be reached`;

const HELP: Record<string, string> = {
  main: `millrace ${SERVER_VERSION} — run and watch Millrace streaming pipelines

Usage:
  millrace run <pipeline.ts> [options] [-- args…]  run a pipeline file and serve the API while it runs
  millrace status [--url URL] [--json]            the queries of a running service
  millrace stop <query> [--url URL] [--abandon]   stop a query of a running service
  millrace restart <query> [--url URL]            start a query again from its checkpoint
  millrace checkpoint inspect <dir> [--json]      what a query's checkpoint directory holds
  millrace help [command]                         help on a command (or: millrace <command> --help)
  millrace --version

${EXIT_CODES}`,
  run: `Usage: millrace run <pipeline.ts> [options] [-- args…]

Runs the default export of a pipeline file — \`export default definePipeline(async (ctx) => { … })\` —
and serves the REST API, live events and /metrics while its queries run. Arguments after \`--\`
are given to the pipeline as ctx.args.

Options:
  --host <addr>        address to bind (default ${DEFAULT_HOST}; env MILLRACE_HOST). A non-loopback
                       address needs --token.
  --port <n>           port (default ${DEFAULT_PORT}; env MILLRACE_PORT); 0 picks a free one
  --token <secret>     bearer token that POST requests (stop, restart, alert changes) must carry
                       (env MILLRACE_TOKEN; at least 12 characters)
  --state-dir <dir>    where alert history, firing alerts and dashboards are kept across restarts
                       (LMDB; default .millrace/service, beside the checkpoints; env MILLRACE_STATE_DIR).
                       --no-state keeps them in memory only
  --read-token         reads (results, plans, /metrics, events) need the token too; the default
                       beyond loopback. --no-read-token leaves reads open there (logged as a warning)
  --log-level <level>  debug | info | warn | error | silent (default info; env MILLRACE_LOG_LEVEL).
                       JSON lines on stderr; progress of every batch at debug.
  --history <n>        progress summaries kept per query (default 10000)
  --progress <mode>    auto | tty | plain | off: progress of once/availableNow queries on stderr
                       (default auto: a live display on a terminal, a line every 10 s otherwise)
  --serve              keep serving after every query has finished
  --exit-on-failure    stop everything and exit 1 as soon as a query fails
  --workers <n>        run each query on n worker threads (a query whose options set \`workers\`
                       keeps its own); the pipeline function runs again in each thread with
                       ctx.role 'worker' to rebuild its plans (guard side effects with
                       \`if (ctx.role === 'driver')\`)
  --partitions <n>     state partitions of new checkpoints (default: --workers, else 1); fixed
                       once a checkpoint exists
  -h, --help

The run ends by itself once the pipeline function returned and every query finished by itself
(once/availableNow triggers); a failed query keeps the server up so the failure can be seen (unless
--exit-on-failure). SIGINT/SIGTERM stops the queries after their current batch; a second signal
abandons the batches in flight; a third exits at once (130).

${EXIT_CODES}`,
  status: `Usage: millrace status [--url URL] [--token T] [--json]

Lists the queries of a running service: health, status, last batch, rates, batch time,
watermark, source lag, failure.

Options:
  --url <url>   the service (default ${DEFAULT_URL}; env MILLRACE_URL)
  --token <t>   bearer token, if the service requires it for reads (env MILLRACE_TOKEN)
  --json        print the API's JSON instead of a table
  -h, --help

${EXIT_CODES}`,
  stop: `Usage: millrace stop <query> [--url URL] [--token T] [--abandon] [--json]

Stops a query (by name or id) of a running service after its current batch.

Options:
  --url <url>     the service (default ${DEFAULT_URL}; env MILLRACE_URL)
  --token <t>     bearer token, if the service has one (env MILLRACE_TOKEN)
  --abandon       do not wait for the batch in flight; it re-runs on the next start
  --json          print the API's JSON answer
  -h, --help

${EXIT_CODES}`,
  restart: `Usage: millrace restart <query> [--url URL] [--token T] [--json]

Starts a query (by name or id) again from its checkpoint, stopping it first if it runs. Only
queries started through ctx.start that have a checkpointLocation can be restarted.

Options:
  --url <url>     the service (default ${DEFAULT_URL}; env MILLRACE_URL)
  --token <t>     bearer token, if the service has one (env MILLRACE_TOKEN)
  --json          print the API's JSON answer
  -h, --help

${EXIT_CODES}`,
  checkpoint: `Usage: millrace checkpoint inspect <dir> [--json]

Shows what a query's checkpoint directory holds: the query, the batches in the offsets and commit
logs, what the next run will do (resume / replay an uncommitted batch), the watermark, the offsets
per source, the state operators (store, partitions, latest version, size) and the sinks' files.
Reads without locking: safe while the query runs.

Options:
  --json       print the report as JSON
  -h, --help

${EXIT_CODES}`,
};

const COMMANDS = ['run', 'status', 'stop', 'restart', 'checkpoint', 'help'];

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const processIo: Io = {
  out: (t) => void process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => void process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (e) {
    if (e instanceof CliError) {
      io.err(e.message);
      return e.exitCode;
    }
    io.err(`millrace: unexpected error: ${(e as Error).stack ?? String(e)}`);
    return EXIT.failure;
  }
}

async function dispatch(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    io.out(HELP.main!);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === '--version' || command === '-v') {
    io.out(SERVER_VERSION);
    return EXIT.ok;
  }
  switch (command) {
    case 'help': {
      const topic = rest[0];
      if (topic === undefined) io.out(HELP.main!);
      else if (HELP[topic]) io.out(HELP[topic]);
      else
        throw new CliError(
          `millrace help: no command "${topic}"; commands: ${COMMANDS.join(', ')}`,
          EXIT.usage,
        );
      return EXIT.ok;
    }
    case 'run':
      return runCommand(rest, io);
    case 'status': {
      const p = parse(
        'status',
        rest,
        { url: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' } },
        { min: 0, max: 0, names: '' },
      );
      if (p.help) return help(io, 'status');
      io.out(
        await (
          await remote()
        ).status({
          url: p.values.url ?? env('MILLRACE_URL') ?? DEFAULT_URL,
          token: p.values.token ?? env('MILLRACE_TOKEN'),
          json: p.values.json === true,
        }),
      );
      return EXIT.ok;
    }
    case 'stop': {
      const p = parse(
        'stop',
        rest,
        {
          url: { type: 'string' },
          token: { type: 'string' },
          abandon: { type: 'boolean' },
          json: { type: 'boolean' },
        },
        { min: 1, max: 1, names: 'the query name or id: `millrace stop <query>`' },
      );
      if (p.help) return help(io, 'stop');
      io.out(
        await (
          await remote()
        ).stop({
          url: p.values.url ?? env('MILLRACE_URL') ?? DEFAULT_URL,
          token: p.values.token ?? env('MILLRACE_TOKEN'),
          query: p.positionals[0]!,
          abandon: p.values.abandon === true,
          json: p.values.json === true,
        }),
      );
      return EXIT.ok;
    }
    case 'restart': {
      const p = parse(
        'restart',
        rest,
        { url: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' } },
        { min: 1, max: 1, names: 'the query name or id: `millrace restart <query>`' },
      );
      if (p.help) return help(io, 'restart');
      io.out(
        await (
          await remote()
        ).restart({
          url: p.values.url ?? env('MILLRACE_URL') ?? DEFAULT_URL,
          token: p.values.token ?? env('MILLRACE_TOKEN'),
          query: p.positionals[0]!,
          json: p.values.json === true,
        }),
      );
      return EXIT.ok;
    }
    case 'checkpoint': {
      const [sub, ...more] = rest;
      if (sub === '--help' || sub === '-h' || sub === undefined) {
        if (sub === undefined)
          throw usageError('checkpoint', 'missing the subcommand: `millrace checkpoint inspect <dir>`');
        return help(io, 'checkpoint');
      }
      if (sub !== 'inspect')
        throw usageError('checkpoint', `unknown subcommand "${sub}"; the only one is \`inspect\``);
      const p = parse(
        'checkpoint',
        more,
        { json: { type: 'boolean' } },
        { min: 1, max: 1, names: 'the checkpoint directory: `millrace checkpoint inspect <dir>`' },
      );
      if (p.help) return help(io, 'checkpoint');
      const { inspectCheckpoint, formatCheckpointReport } = await import('./checkpointInspect.ts');
      const report = await inspectCheckpoint(p.positionals[0]!);
      io.out(p.values.json ? JSON.stringify(report, null, 2) : formatCheckpointReport(report));
      return EXIT.ok;
    }
    default: {
      const guess = COMMANDS.find((c) => c.startsWith(command.slice(0, 2)));
      throw new CliError(
        `millrace: unknown command "${command}"${guess ? ` (did you mean \`${guess}\`?)` : ''}; commands: ${COMMANDS.join(', ')}. See \`millrace --help\`.`,
        EXIT.usage,
      );
    }
  }
}

function help(io: Io, command: string): number {
  io.out(HELP[command]!);
  return EXIT.ok;
}

async function runCommand(argv: string[], io: Io): Promise<number> {
  // Everything after the first `--` belongs to the pipeline.
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const pipelineArgs = dash < 0 ? [] : argv.slice(dash + 1);
  const p = parse(
    'run',
    own,
    {
      host: { type: 'string' },
      port: { type: 'string' },
      token: { type: 'string' },
      'log-level': { type: 'string' },
      history: { type: 'string' },
      progress: { type: 'string' },
      serve: { type: 'boolean' },
      'exit-on-failure': { type: 'boolean' },
      'read-token': { type: 'boolean' },
      'no-read-token': { type: 'boolean' },
      'state-dir': { type: 'string' },
      'no-state': { type: 'boolean' },
      workers: { type: 'string' },
      partitions: { type: 'string' },
    },
    { min: 1, max: 1, names: 'the pipeline file: `millrace run <pipeline.ts>`' },
  );
  if (p.help) return help(io, 'run');
  const v = p.values;
  const logLevel = (v['log-level'] ?? env('MILLRACE_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw usageError('run', `--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const progress = (v.progress ?? 'auto') as ProgressMode;
  if (!['auto', 'tty', 'plain', 'off'].includes(progress)) {
    throw usageError('run', `--progress must be auto, tty, plain or off, got "${progress}"`);
  }
  const { run } = await import('./run.ts');
  return run({
    file: p.positionals[0]!,
    args: pipelineArgs,
    host: v.host ?? env('MILLRACE_HOST') ?? DEFAULT_HOST,
    port: intOption('run', 'port', v.port ?? env('MILLRACE_PORT'), DEFAULT_PORT, 0, 65535),
    token: v.token ?? env('MILLRACE_TOKEN'),
    logLevel,
    historySize: intOption('run', 'history', v.history, 10_000, 1, 10_000_000),
    progress,
    serve: v.serve === true,
    exitOnFailure: v['exit-on-failure'] === true,
    stateDir:
      v['no-state'] === true
        ? undefined
        : (v['state-dir'] ?? env('MILLRACE_STATE_DIR') ?? '.millrace/service'),
    ...(v['read-token'] === true
      ? { requireTokenForReads: true }
      : v['no-read-token'] === true
        ? { requireTokenForReads: false }
        : {}),
    ...(v.workers === undefined ? {} : { workers: intOption('run', 'workers', v.workers, 1, 1, 256) }),
    ...(v.partitions === undefined
      ? {}
      : { partitions: intOption('run', 'partitions', v.partitions, 1, 1, 10_000) }),
  });
}
