/**
 * Everything on embedded defaults, with one command:
 *
 *   npx tsx examples/resource-monitor/run.ts                 # 4 simulated agents, UI on :4040
 *   npx tsx examples/resource-monitor/run.ts --agents 10 --port 4041 -- --threshold 80
 *
 * Runs `millrace run examples/resource-monitor/pipeline.ts` (the service with its web UI, the
 * ingest and collectd endpoints, the queries) with N simulated agents inside the pipeline's
 * process, one of which runs hot from 30 s to 150 s so the hot-host alert fires after about
 * 2 min 10 s and resolves about 40 s later. Prints where the UI is, the alerts, and
 * the closed windows; Ctrl-C stops everything (the queries finish their batch; a restart resumes
 * from the checkpoints in .millrace/resource-monitor).
 *
 * Options: --agents <n> (default 4), --port <n> (UI and API, default 4040), --no-hot (no hot
 * spell), --fake (seeded values instead of this machine's readings); after `--`, any option of
 * pipeline.ts (PIPELINE_USAGE).
 */
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { numberOption } from './options.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dashIndex = process.argv.indexOf('--');
const own = dashIndex < 0 ? process.argv.slice(2) : process.argv.slice(2, dashIndex);
const rest = dashIndex < 0 ? [] : process.argv.slice(dashIndex + 1);
const { values: v } = parseArgs({
  args: own,
  options: {
    agents: { type: 'string', default: '4' },
    port: { type: 'string', default: '4040' },
    'no-hot': { type: 'boolean', default: false },
    fake: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (v.help) {
  process.stdout.write(
    'Usage: npx tsx examples/resource-monitor/run.ts [--agents n] [--port n] [--no-hot] [--fake] [-- pipeline options]\n',
  );
  process.exit(0);
}
const agents = numberOption('--agents', v.agents, { min: 1, max: 10_000, integer: true });
const port = numberOption('--port', v.port, { min: 0, max: 65535, integer: true });
const name = rest.includes('--agent-name') ? rest[rest.indexOf('--agent-name') + 1]! : os.hostname();
const hotHost = agents === 1 ? name : `${name}-2`;
const pipelineArgs = [
  '--agents',
  String(agents),
  '--agent-name',
  name,
  ...(v.fake ? ['--fake'] : []),
  ...(v['no-hot'] || rest.includes('--hot') ? [] : ['--hot', `${hotHost}:30-150`]),
  ...rest.filter((a, i) => a !== '--agent-name' && rest[i - 1] !== '--agent-name'),
];

// Its own process group: Ctrl-C reaches only us, and we pass on exactly one signal per signal
// (the service's second signal means "abandon the batches in flight").
const child = spawn(
  process.execPath,
  [
    path.join(root, 'packages/server/bin/millrace.js'),
    'run',
    path.join(root, 'examples/resource-monitor/pipeline.ts'),
    '--port',
    String(port),
    '--progress',
    'off',
    '--log-level',
    'info',
    '--',
    ...pipelineArgs,
  ],
  { stdio: ['ignore', 'inherit', 'pipe'], detached: true },
);
const forward = (sig: NodeJS.Signals) => child.kill(sig);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
process.on('exit', () => child.exitCode === null && child.kill('SIGKILL'));

let ui = '';
let buffer = '';
child.stderr!.setEncoding('utf8');
child.stderr!.on('data', (chunk: string) => {
  buffer += chunk;
  let nl: number;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, nl);
    buffer = buffer.slice(nl + 1);
    show(line);
  }
});

/** The service's JSON log lines, made readable: the banner, alerts, warnings and errors. */
function show(line: string): void {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line) as Record<string, unknown>;
  } catch {
    process.stderr.write(line + '\n');
    return;
  }
  const msg = String(e.msg);
  if (msg === 'server listening') ui = String(e.url);
  else if (msg === 'resource monitor ready') {
    process.stderr.write(
      [
        '',
        'Millrace — cluster resource monitoring',
        `  web UI            ${ui}   (dashboards: ${ui}/dashboards, alerts: ${ui}/alerts)`,
        `  REST API          ${ui}/api/v1   ·   ${ui}/metrics`,
        `  agents            ${agents} simulated in the pipeline process (${agents === 1 ? name : `${name}-1 … ${name}-${agents}`})` +
          (pipelineArgs.includes('--hot') ? `; ${hotHost} runs hot from 30 s to 150 s` : ''),
        `  more agents       npx tsx examples/resource-monitor/agent.ts --ingest ${String(e.ingestUrl)} --hosts 3 --host other`,
        `  collectd          write_http URL "${String(e.collectdUrl)}" (Format "JSON"; see README.md)`,
        `  metrics / stats   ${String(e.metrics)} → topic ${String(e.stats)}`,
        '  Closed 1-minute windows are printed below every 10 s. Ctrl-C stops.',
        '',
      ].join('\n') + '\n',
    );
  } else if (msg === 'alert fired') {
    process.stderr.write(`\n*** ALERT ${String(e.rule)} firing: ${String(e.summary)}\n\n`);
  } else if (msg === 'alert resolved') {
    process.stderr.write(`\n*** alert ${String(e.rule)} resolved for ${JSON.stringify(e.labels)}\n\n`);
  } else if (e.level === 'warn' || e.level === 'error' || msg === 'shutting down' || msg === 'exiting') {
    const { level, msg: _m, time: _t, pid: _p, ...fields } = e;
    process.stderr.write(
      `${String(level)}: ${msg}${Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : ''}\n`,
    );
  }
}

child.once('exit', (code, signal) => {
  if (buffer) show(buffer);
  process.exitCode = code ?? (signal ? 1 : 0);
});
