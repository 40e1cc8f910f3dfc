#!/usr/bin/env node
// lbguard: run the daemon, validate a farms file, show status, or run the embedded demo.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { VERSION } from '../plugins/runtime/plugin.ts';
import { descriptorBudget } from '../lvs-adapters/userspace/descriptors.ts';
import { ConfigError, loadConfig } from './config/load.ts';
import { loadConfigOffThread, RELOAD_HEAP_MB, RELOAD_TIMEOUT_MS } from './config/load-off-thread.ts';
import { parseDuration } from './config/duration.ts';
import { loadValidConfig } from './config/semantics.ts';
import { DATAPLANE_KINDS } from './dataplane-kinds.ts';
import { Orchestrator } from './daemon.ts';
import { tuneHeapForDaemon } from './heap-settings.ts';
import { ReloadQueue } from './reloads.ts';
import { exposureWarning, type StatusTarget, statusRequest, targetFromConfig } from './status/client.ts';
import { loadStatusSecrets, readToken, type StatusSecrets } from './status/secrets.ts';
import { startStatusServer } from './status/server.ts';
import { printStatusTable } from './status/table.ts';
import { type Director, prepareDirector } from './vrrp/director.ts';
import { importLvs, LVS_FORMATS, LVS_USAGE, renderLvs } from '../lvs-adapters/cli.ts';

const USAGE = `Usage: lbguard <command> [options]

Commands:
  run -c FILE [--node NAME] [--reload-timeout DURATION] [--reload-memory MB]
                       check every backend of every farm and drive the data planes
                       (SIGHUP reloads FILE, keeping the state of unchanged backends; SIGTERM stops);
                       a reload reads FILE in a worker thread, refused past --reload-timeout
                       (default 30s) or --reload-memory megabytes of heap (default 512);
                       with vrrp: in FILE, also run keepalived for this director of the pair
                       (--node: which of vrrp.peers; default: the one whose address is here)
  check -c FILE        validate FILE; print every problem with its place (farms[2].backends[0].port)
  status [-c FILE | --url URL]
                       print farms, backends, states, last check line and latency
  maintenance FARM BACKEND on|off [-c FILE | --url URL]
                       take a backend out of (or back into) service by hand
  render farmguardian -c FILE [FARM]
                       print each farm's check as a Zevenet Farm Guardian command and object
  import zevenet URL [--key-file FILE] [--ca-file FILE]
  import nftlb URL [--key-file FILE]
                       print the L4xNAT farms of a Zevenet appliance (API v4.0) or of nftlb as a farms
                       file; the key from FILE or LBGUARD_ZEVENET_KEY / LBGUARD_NFTLB_KEY, never argv
  install-plugins [--libexec DIR]
                       install launchers of lbguard's plugins as lbguard_check_ftp, lbguard_check_tftp,
                       lbguard_check_ssh in DIR (default /usr/lib/nagios/plugins, where Farm Guardian
                       runs commands); a file lbguard did not write is left alone
${LVS_USAGE}  demo                 run the embedded demo: local backends, the orchestrator, the status page
  version              print the version

Options:
  -c, --config FILE    the farms file (YAML)
  --node NAME          the director of vrrp.peers this is (run, render keepalived)
  --url URL            the status address of a running lbguard (default: status.listen of -c FILE,
                       else http://127.0.0.1:9100)
  --token-file FILE    the token to send with --url (default: the one -c FILE names)
  --log-level LEVEL    error, warn, info (default) or debug
`;

function fail(message: string, code = 2): number {
  process.stderr.write(`lbguard: ${message}\n`);
  return code;
}

interface ReloadLimits {
  readonly timeoutMs: number;
  readonly heapMb: number;
}

/** --reload-timeout and --reload-memory, or what is wrong with them. */
function reloadLimits(timeout: string | undefined, memory: string | undefined): ReloadLimits | string {
  const timeoutMs = timeout === undefined ? RELOAD_TIMEOUT_MS : parseDuration(timeout);
  if (timeoutMs === undefined || timeoutMs < 100 || timeoutMs > 3_600_000) return `--reload-timeout: expected a duration from 100ms to 1h such as "30s", got ${JSON.stringify(timeout)}`;
  const heapMb = memory === undefined ? RELOAD_HEAP_MB : Number(memory);
  if (!/^\d+$/.test(memory ?? '0') || heapMb < 16 || heapMb > 65_536) return `--reload-memory: expected megabytes from 16 to 65536, got ${JSON.stringify(memory)}`;
  return { timeoutMs, heapMb };
}

async function run(file: string, logLevel: string, nodeName: string | undefined, limits: ReloadLimits): Promise<number> {
  const heapFlags = tuneHeapForDaemon();
  const logger = pino({ level: logLevel, base: { app: 'lbguard' } });
  // a SIGHUP while starting (Node's default would end the process) is held and done once running
  let reloadWhileStarting = false;
  const holdReload = () => {
    reloadWhileStarting = true;
  };
  process.on('SIGHUP', holdReload);
  let config;
  try {
    config = loadValidConfig(file, DATAPLANE_KINDS);
  } catch (error) {
    return fail(error instanceof ConfigError ? `refusing to start: ${error.message}` : (error as Error).message);
  }
  let secrets: StatusSecrets;
  let pair;
  try {
    secrets = loadStatusSecrets(config.status);
    pair = prepareDirector(config, nodeName, logger);
  } catch (error) {
    return fail(`refusing to start: ${(error as Error).message}`);
  }
  let director: Director | undefined;
  const orchestrator = new Orchestrator(config, { logger, dataplanes: DATAPLANE_KINDS, vrrpStatus: () => director?.status() });
  // the page first: an address that cannot be taken refuses the start before any check or data plane change
  let status;
  try {
    status = await startStatusServer(orchestrator, config.status.listen, secrets);
  } catch (error) {
    return fail(`refusing to start: the status page cannot listen on ${config.status.listen}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  await orchestrator.start();
  // keepalived after the data planes: this director bids for the addresses once it can serve them
  try {
    director = await pair?.start();
  } catch (error) {
    await status.close();
    await orchestrator.stop();
    return fail(`refusing to start: vrrp: ${(error as Error).message}`);
  }
  logger.info({ event: 'status-listening', url: status.url }, `status page at ${status.url}/`);
  const descriptors = descriptorBudget();
  logger.info({ event: 'descriptors', limit: descriptors.limit ?? null, reserve: descriptors.reserve }, descriptors.describe());
  if (heapFlags.length) logger.info({ event: 'v8-flags', flags: heapFlags }, `V8 heap settings taken: ${heapFlags.join(' ')}`);
  const warnExposure = (c: typeof config) => {
    const warning = exposureWarning(c);
    if (warning) logger.warn({ event: 'status-exposed', listen: c.status.listen }, warning);
  };
  warnExposure(config);
  let listen = config.status.listen;
  let tls = secrets.tls !== undefined;
  let current = status;
  // the file is read, parsed and validated in a worker thread (it may take seconds); what it gives is
  // put in place here, on the event loop
  const apply = (next: typeof config) => {
    try {
      const nextSecrets = loadStatusSecrets(next.status);
      orchestrator.reload(next);
      director?.reload(next);
      warnExposure(next);
      if (next.status.listen === listen && (nextSecrets.tls !== undefined) === tls) {
        current.update(nextSecrets);
      } else {
        const [from, to] = [listen, next.status.listen];
        listen = to;
        tls = nextSecrets.tls !== undefined;
        // the new address may be taken: then the page stays (or comes back) where it was
        void current.close()
          .then(() => startStatusServer(orchestrator, to, nextSecrets))
          .catch(async (error: Error) => {
            logger.error({ event: 'status-listen-failed', listen: to, error: error.message }, `status page cannot listen on ${to}: ${error.message}; staying on ${from}`);
            listen = from;
            return startStatusServer(orchestrator, from, nextSecrets);
          })
          .then((server) => { current = server; })
          .catch((error: Error) => logger.error({ event: 'status-listen-failed', listen: from, error: error.message }, `status page cannot listen on ${from} either: ${error.message}`));
      }
    } catch (error) {
      refuse(error as Error);
    }
  };
  const refuse = (error: Error) => {
    if (stopping.signal.aborted) return;
    logger.error({ event: 'reload-refused', error: error.message, ms: Math.round(performance.now() - readStarted) }, 'reload refused; keeping the last good configuration');
  };
  const stopping = new AbortController();
  let readStarted = 0;
  const reloads = new ReloadQueue({
    read: () => {
      readStarted = performance.now();
      return loadConfigOffThread(file, { ...limits, signal: stopping.signal });
    },
    apply,
    refuse,
    superseded: () => logger.info({ event: 'reload-superseded' }, 'SIGHUP again while the file was read: reading it again'),
  });
  const reload = () => reloads.request();
  process.on('SIGHUP', reload);
  process.off('SIGHUP', holdReload);
  if (reloadWhileStarting) reload();
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  // the data planes stop listening at once and give open sessions their drain-timeout; a second
  // SIGTERM (or SIGINT) cuts them at once
  const cut = new AbortController();
  process.once('SIGTERM', () => cut.abort());
  process.once('SIGINT', () => cut.abort());
  logger.info({ event: 'stopping' }, 'stopping: no new sessions; open ones get the drain-timeout (SIGTERM again cuts them)');
  // a file being read is dropped, its thread terminated; a SIGHUP from now on reads nothing
  stopping.abort();
  await reloads.idle();
  await current.close();
  // keepalived first: the peer takes the addresses over while the data planes drain
  await director?.stop();
  await orchestrator.stop({ signal: cut.signal });
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...rest] = argv;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, url: { type: 'string' }, 'token-file': { type: 'string' }, libexec: { type: 'string' }, 'key-file': { type: 'string' }, 'ca-file': { type: 'string' }, 'log-level': { type: 'string' }, node: { type: 'string' }, listen: { type: 'string' }, 'reload-timeout': { type: 'string' }, 'reload-memory': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    return fail(`${(error as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  // `lbguard run --help`: the usage, on stdout, exit 0, whatever the command
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  /** Where `status` and `maintenance` go: --url, else the farms file's status address, with its token. */
  const statusTarget = (kind: 'read' | 'change'): StatusTarget => {
    const fromFile = values.config ? targetFromConfig(loadConfig(values.config), kind) : undefined;
    const token = values['token-file'] ? readToken(values['token-file']) : fromFile?.token;
    if (values.url) return { url: values.url.replace(/\/+$/, ''), token, cert: fromFile?.cert };
    return fromFile ? { ...fromFile, token } : { url: 'http://127.0.0.1:9100', token };
  };
  switch (command) {
    case 'run': {
      if (!values.config) return fail(`run needs -c FILE\n${USAGE}`);
      const limits = reloadLimits(values['reload-timeout'], values['reload-memory']);
      if (typeof limits === 'string') return fail(`${limits}\n${USAGE}`);
      return run(values.config, values['log-level'] ?? 'info', values.node, limits);
    }
    case 'check':
      if (!values.config) return fail(`check needs -c FILE\n${USAGE}`);
      try {
        const config = loadValidConfig(values.config, DATAPLANE_KINDS);
        const backends = config.farms.reduce((n, f) => n + f.backends.length, 0);
        process.stdout.write(`${values.config}: OK (${config.farms.length} farm(s), ${backends} backend(s))\n`);
        const warning = exposureWarning(config);
        if (warning) process.stderr.write(`lbguard: warning: ${warning}\n`);
        return 0;
      } catch (error) {
        process.stdout.write(`${(error as Error).message}\n`);
        return 1;
      }
    case 'status': {
      let target;
      try {
        target = statusTarget('read');
      } catch (error) {
        return fail((error as Error).message, 1);
      }
      return printStatusTable(target);
    }
    case 'maintenance': {
      const [farm, backend, onOff] = positionals;
      if (!farm || !backend || (onOff !== 'on' && onOff !== 'off')) return fail(`maintenance needs FARM BACKEND on|off\n${USAGE}`);
      let target;
      try {
        target = statusTarget('change');
      } catch (error) {
        return fail((error as Error).message, 1);
      }
      // the answer too must come within the time: a daemon that accepts and never answers is not waited for
      const answer = await statusRequest(target, 'POST', `/maintenance?farm=${encodeURIComponent(farm)}&backend=${encodeURIComponent(backend)}&on=${onOff === 'on' ? 1 : 0}`)
        .catch((e: Error) => e);
      if (answer instanceof Error) return fail(`cannot reach ${target.url}: ${answer.message}`, 1);
      process.stdout.write(answer.text.endsWith('\n') ? answer.text : `${answer.text}\n`);
      return answer.status === 200 ? 0 : 1;
    }
    case 'import': case 'render': {
      if (command === 'import' && (positionals[0] === 'zevenet' || positionals[0] === 'nftlb')) {
        if (!positionals[1]) return fail(`import ${positionals[0]} needs the URL of the ${positionals[0] === 'zevenet' ? 'appliance' : 'nftlb API'}\n${USAGE}`);
        const { importFarms } = await import('../zevenet-adapters/import.ts');
        try {
          const imported = await importFarms(positionals[0], { url: positionals[1], keyFile: values['key-file'], caFile: values['ca-file'] });
          process.stdout.write(imported.text);
          process.stderr.write(imported.notes.map((n) => `lbguard: ${n}\n`).join(''));
          return 0;
        } catch (error) {
          return fail((error as Error).message, 1);
        }
      }
      if (command === 'import' || LVS_FORMATS.includes(positionals[0] ?? '')) {
        const result = command === 'import' ? importLvs(positionals[0], positionals[1]) : renderLvs(positionals[0], values.config, values.node);
        process.stdout.write(result.stdout);
        process.stderr.write(result.stderr);
        return result.code;
      }
      if (positionals[0] !== 'farmguardian' || !values.config) return fail(`render needs farmguardian -c FILE [FARM]\n${USAGE}`);
      const { renderFarmGuardian } = await import('../zevenet-adapters/farmguardian/render.ts');
      let config;
      try {
        config = loadConfig(values.config); // the appliance runs the checks: local files need not exist here
      } catch (error) {
        return fail((error as Error).message, 1);
      }
      const farms = positionals[1] ? config.farms.filter((f) => f.name === positionals[1]) : config.farms;
      if (farms.length === 0) return fail(`no farm named "${positionals[1]}" in ${values.config}`, 1);
      let text;
      try {
        text = farms.map(renderFarmGuardian).join('\n');
      } catch (error) {
        return fail((error as Error).message, 1);
      }
      process.stdout.write(text);
      return 0;
    }
    case 'install-plugins': {
      const { DEFAULT_LIBEXEC, installPlugins } = await import('../zevenet-adapters/farmguardian/install.ts');
      // the bundles beside this one (dist/lbguard.mjs -> dist/plugins/)
      const pluginsDir = join(dirname(fileURLToPath(import.meta.url)), 'plugins');
      const result = installPlugins({ libexec: values.libexec ?? DEFAULT_LIBEXEC, pluginsDir, node: process.execPath });
      process.stdout.write(result.lines.map((l) => `${l}\n`).join(''));
      return result.ok ? 0 : 1;
    }
    case 'demo': {
      const { runDemo } = await import('./demo/demo.ts');
      return runDemo({ listen: values.listen, dataplanes: DATAPLANE_KINDS });
    }
    case 'version': case '--version': case '-V':
      process.stdout.write(`lbguard ${VERSION}\n`);
      return 0;
    case 'help': case '--help': case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      return fail(`unknown command '${command}'\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`lbguard: ${error.message}\n`);
    process.exit(1);
  },
);
