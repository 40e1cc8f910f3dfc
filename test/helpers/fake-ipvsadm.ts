// A stand-in for ipvsadm and nft inside the test process, handed to IpvsadmAdapter as its `run`:
// it keeps an IPVS table, records every argv, and answers with the real tool's messages and exit
// codes (2: bad arguments, 255: the kernel refused) for -A -E -D -a -e -d -C -R -Sn and
// -Ln --thresholds. Like ipvsadm 1.31, -Sn leaves the thresholds (-x, -y) out. A run whose path
// ends in "nft" is recorded as an nft script. The real tool on a real kernel is driven by
// test/system/ipvs-vm.test.ts.
import type { RunOptions, ToolRun, ToolRunner } from '../../orchestrator/tools/run-tool.ts';

interface FakeDest {
  r: string;
  fwd: string;
  w: string;
  x?: string | undefined;
  y?: string | undefined;
}

interface FakeService {
  svc: string;
  sched: string;
  p?: string | undefined;
  M?: string | undefined;
  b?: string | undefined;
  o?: boolean | undefined;
  dests: FakeDest[];
}

interface Command {
  op: string;
  svc?: string;
  sched?: string;
  p?: string;
  M?: string;
  b?: string;
  o?: boolean;
  r?: string;
  fwd?: string;
  w?: string;
  x?: string;
  y?: string;
  thresholds?: boolean;
}

class Failure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh'];

function parse(argv: readonly string[]): Command {
  const cmd: Command = { op: argv[0] ?? '' };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Failure(2, `option ${a} requires an argument`);
      return x;
    };
    if (a === '-t' || a === '-u') cmd.svc = `${a} ${value()}`;
    else if (a === '-f') cmd.svc = `-f ${value()}`;
    else if (a === '-6') cmd.svc += ' -6';
    else if (a === '-s') cmd.sched = value();
    else if (a === '-p') cmd.p = value();
    else if (a === '-M') cmd.M = value();
    else if (a === '-b') cmd.b = value();
    else if (a === '-o') cmd.o = true;
    else if (a === '-r') cmd.r = value();
    else if (a === '-m' || a === '-g' || a === '-i') cmd.fwd = a;
    else if (a === '-w') {
      cmd.w = value();
      if (!/^\d+$/.test(cmd.w) || Number(cmd.w) > 65535) throw new Failure(2, 'illegal weight specified');
    } else if (a === '-x' || a === '-y') {
      const threshold = value();
      if (!/^\d+$/.test(threshold)) throw new Failure(2, `illegal ${a === '-x' ? 'upper' : 'lower'} threshold specified`);
      if (a === '-x') cmd.x = threshold;
      else cmd.y = threshold;
    } else if (a === '-n') continue;
    else if (a === '--thresholds') cmd.thresholds = true;
    else throw new Failure(2, `unknown option ${a}`);
  }
  if (cmd.r !== undefined) {
    if (!/^(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\])(:\d+)?$/i.test(cmd.r)) throw new Failure(2, 'illegal real server address[:port] specified');
    // without a port the real server takes the service's (0 for a fwmark service)
    const withoutBrackets = cmd.r.replace(/^\[[^\]]*\]/, (m) => m.replace(/:/g, ''));
    if (!/:\d+$/.test(withoutBrackets)) cmd.r += `:${cmd.svc?.startsWith('-f') ? 0 : cmd.svc?.split(':').pop()}`;
  }
  return cmd;
}

export class FakeIpvsadm {
  /** the kernel's table */
  readonly services: FakeService[] = [];
  /** every ipvsadm argv, joined by spaces, in the order run */
  readonly calls: string[] = [];
  /** every script piped to nft */
  readonly nftScripts: string[] = [];
  /** any command line containing this text fails as the kernel would, "Memory allocation problem" */
  refuse: string | undefined;

  /** The runner to hand to IpvsadmAdapter (`run`): ipvsadm in this process, nft recorded. */
  readonly run: ToolRunner = async (path: string, argv: readonly string[], options: RunOptions = {}): Promise<ToolRun> => {
    if (path.endsWith('nft')) {
      this.nftScripts.push(options.input ?? '');
      return { code: 0, stdout: '', stderr: '', signal: null };
    }
    return { ...this.ipvsadm(argv, options.input ?? ''), signal: null };
  };

  /** The table as `ipvsadm -Sn` prints it. */
  save(): string {
    return this.ipvsadm(['-Sn']).stdout;
  }

  /** One ipvsadm run: its exit status and what it printed. */
  ipvsadm(argv: readonly string[], input = ''): { code: number; stdout: string; stderr: string } {
    this.calls.push(argv.join(' '));
    const out: string[] = [];
    const err: string[] = [];
    let code = 0;
    try {
      if (argv[0] === '-R') {
        // like ipvsadm -R: a kernel error is printed and the next line runs; the exit status is the last line's
        for (const line of input.split('\n')) {
          const words = line.trim().split(/\s+/).filter(Boolean);
          if (words[0] === 'ipvsadm') words.shift();
          if (words.length === 0) continue;
          try {
            this.guarded(words, out);
            code = 0;
          } catch (error) {
            if (!(error instanceof Failure) || error.code === 2) throw error;
            err.push(error.message);
            code = 255;
          }
        }
      } else this.guarded(argv, out);
    } catch (error) {
      err.push(error instanceof Error ? error.message : String(error));
      code = error instanceof Failure ? error.code : 1;
    }
    return { code, stdout: out.map((l) => `${l}\n`).join(''), stderr: err.map((l) => `${l}\n`).join('') };
  }

  private guarded(argv: readonly string[], out: string[]): void {
    if (this.refuse && argv.join(' ').includes(this.refuse)) throw new Failure(255, 'Memory allocation problem');
    this.execute(parse(argv), out);
  }

  private execute(cmd: Command, out: string[]): void {
    const services = this.services;
    const find = () => services.find((s) => s.svc === cmd.svc);
    switch (cmd.op) {
      case '-Sn':
      case '-S':
        for (const s of services) {
          let line = `-A ${s.svc} -s ${s.sched}`;
          if (s.p) line += ` -p ${s.p}${s.M && s.M !== '255.255.255.255' ? ` -M ${s.M}` : ''}`;
          if (s.b) line += ` -b ${s.b}`;
          if (s.o) line += ' -o';
          out.push(line);
          for (const d of s.dests) out.push(`-a ${s.svc} -r ${d.r} ${d.fwd} -w ${d.w}${d.fwd === '-i' ? ' --tun-type ipip' : ''}`);
        }
        return;
      case '-Ln':
        if (!cmd.thresholds) throw new Failure(2, 'the fake lists only -Ln --thresholds');
        out.push('IP Virtual Server version 1.2.1 (size=4096)', 'Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn ', '  -> RemoteAddress:Port');
        for (const s of services) {
          const [kind, id] = s.svc.split(' ');
          out.push(`${kind === '-f' ? `FWM  ${id}` : `${kind === '-t' ? 'TCP' : 'UDP'}  ${id}`} ${s.sched}${s.p ? ` persistent ${s.p}` : ''}`);
          for (const d of s.dests) out.push(`  -> ${d.r.padEnd(28)}${(d.x ?? '0').padEnd(11)}${(d.y ?? '0').padEnd(11)}0          0         `);
        }
        return;
      case '-C':
        services.length = 0;
        return;
      case '-A':
      case '-E': {
        if (cmd.sched && !SCHEDULERS.includes(cmd.sched)) throw new Failure(255, 'Scheduler or persistence engine not found');
        const there = find();
        if (cmd.op === '-A' && there) throw new Failure(255, 'Service already exists');
        if (cmd.op === '-E' && !there) throw new Failure(255, 'No such service');
        const spec: FakeService = { svc: cmd.svc ?? '', sched: cmd.sched ?? 'wlc', p: cmd.p, M: cmd.p ? cmd.M : undefined, b: cmd.b, o: cmd.o, dests: there?.dests ?? [] };
        if (there) Object.assign(there, spec);
        else services.push(spec);
        return;
      }
      case '-D': {
        const at = services.findIndex((s) => s.svc === cmd.svc);
        if (at < 0) throw new Failure(255, 'No such service');
        services.splice(at, 1);
        return;
      }
      case '-a':
      case '-e':
      case '-d': {
        const s = find();
        if (!s) throw new Failure(255, 'Service not defined');
        const at = s.dests.findIndex((d) => d.r === cmd.r);
        if (cmd.op === '-a' && at >= 0) throw new Failure(255, 'Destination already exists');
        if (cmd.op !== '-a' && at < 0) throw new Failure(255, 'No such destination');
        if (cmd.op === '-d') {
          s.dests.splice(at, 1);
          return;
        }
        if (Number(cmd.y ?? 0) > Number(cmd.x ?? 0)) throw new Failure(255, 'Numerical result out of range');
        // -e is the full spec: an option left out goes back to its default, as with the real tool
        const dest = { r: cmd.r ?? '', fwd: cmd.fwd ?? '-g', w: cmd.w ?? '1', x: cmd.x, y: cmd.y };
        if (cmd.op === '-a') s.dests.push(dest);
        else s.dests[at] = dest;
        return;
      }
      default:
        throw new Failure(255, "Try `ipvsadm -h' or 'ipvsadm --help' for more information.");
    }
  }
}
