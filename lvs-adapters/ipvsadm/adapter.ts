import { recordChanges } from '../../orchestrator/dataplane/memory.ts';
import { type Change, changedFarm, type DataPlaneAdapter, type FarmState, type RealServerSpec, type VirtualServiceSpec, type DataplaneConfig } from '../../orchestrator/dataplane/types.ts';
import { farmServices, forwardOf, type Method } from './farm-map.ts';
import { applyMarks, markRules, snatRules } from './fwmark.ts';
import { planCommands, sameServices } from './plan.ts';
import { runTool, type ToolRunner } from '../../orchestrator/tools/run-tool.ts';
import { ipvsadm, IpvsadmError } from './runner.ts';
import { destKey, type IpvsService, parseSave, parseThresholds, serviceKey, withThresholds } from './table.ts';

export interface IpvsadmAdapterOptions {
  /** path of ipvsadm (default /sbin/ipvsadm) */
  readonly ipvsadm?: string;
  /** path of nft, used only when a farm has a fwmark (default /usr/sbin/nft) */
  readonly nft?: string;
  readonly method?: Method;
  /** more commands than this go to the kernel in one `ipvsadm -R` batch (default 8) */
  readonly batchAbove?: number;
  /** runs ipvsadm and nft with an argv (default runTool: a child process, no shell); tests pass a fake */
  readonly run?: ToolRunner;
}

/**
 * `dataplane: {type: ipvsadm}`: kernel IPVS driven through ipvsadm. Every apply reads the table
 * back (`ipvsadm -Sn` and `-Ln --thresholds`), runs only the commands that make the touched farms'
 * services equal to what is wanted: one by one, each exit status checked, or as one `ipvsadm -R`
 * batch for large changes — which goes on after a failed line, so then the table is read again and
 * the apply fails unless it now holds exactly what was asked. Services of farms lbguard
 * does not know are never touched. Firewall marks of fwmark farms live in nftables
 * (`table inet lbguard_ipvs`), rewritten atomically when they change, with the source NAT a
 * TFTP farm needs under IPVS-NAT (fwmark.ts, snatRules).
 */
export class IpvsadmAdapter implements DataPlaneAdapter {
  readonly type = 'ipvsadm';
  readonly ipvsadmPath: string;
  readonly nftPath: string;
  readonly method: Method;
  readonly batchAbove: number;
  private readonly run: ToolRunner;
  /** the farms as last asked for */
  private readonly asked = new Map<string, FarmState>();
  private marksApplied: string | undefined;
  /** every command run so far, for tests and the debug log */
  readonly history: string[][] = [];

  constructor(options: IpvsadmAdapterOptions = {}) {
    this.ipvsadmPath = options.ipvsadm ?? '/sbin/ipvsadm';
    this.nftPath = options.nft ?? '/usr/sbin/nft';
    this.method = options.method ?? 'nat';
    this.batchAbove = options.batchAbove ?? 8;
    this.run = options.run ?? runTool;
  }

  /**
   * The kernel's table: `ipvsadm -Sn`, with the real servers' connection limits from
   * `ipvsadm -Ln --thresholds` (-Sn leaves -x and -y out). The two run side by side.
   */
  async table(): Promise<IpvsService[]> {
    const read = (argv: string[]) => ipvsadm(this.ipvsadmPath, argv, {}, this.run);
    const [save, limits] = await Promise.all([read(['-Sn']), read(['-Ln', '--thresholds'])]);
    return withThresholds(parseSave(save.stdout), parseThresholds(limits.stdout));
  }

  /**
   * The table each observe() read, by the list it returned: the apply() of the same pass is handed
   * that list back (see DataPlaneAdapter.apply) and plans on this table, so a pass reads the kernel
   * once. Used once; a list never handed back is dropped with it.
   */
  private readonly tables = new WeakMap<readonly FarmState[], IpvsService[]>();

  async observe(): Promise<FarmState[]> {
    const table = await this.table();
    const kernel = new Map(table.map((s) => [serviceKey(s), s]));
    const out: FarmState[] = [];
    for (const farm of this.asked.values()) {
      const wanted = farmServices(farm, this.method);
      const primary = wanted[0] && kernel.get(serviceKey(wanted[0]));
      if (!wanted[0] || !primary) continue;
      out.push({ ...this.observedService(farm.service, wanted, primary, kernel), servers: this.observedServers(farm, wanted[0], primary) });
    }
    this.tables.set(out, table);
    return out;
  }

  /**
   * The farm's service as the kernel has it: scheduler and persistence of its first port's service.
   * When a further port's service is missing or different the farm is out of step, and the diff
   * above asks for an update-farm, which applies the whole farm again.
   */
  private observedService(spec: VirtualServiceSpec, wanted: IpvsService[], primary: IpvsService, kernel: Map<string, IpvsService>): Pick<FarmState, 'service' | 'outOfStep'> {
    const outOfStep = wanted.slice(1).some((s) => {
      const there = kernel.get(serviceKey(s));
      return !there || !sameServices(s, there);
    });
    const asked = wanted[0];
    const samePersistence = asked?.persistent === primary.persistent && asked?.netmask === primary.netmask;
    const persistence = samePersistence
      ? spec.persistence
      : primary.persistent === undefined
        ? undefined
        : { timeoutSeconds: primary.persistent, netmask: primary.netmask ?? '255.255.255.255' };
    return { service: { ...spec, scheduler: primary.scheduler, persistence }, ...(outOfStep ? { outOfStep } : {}) };
  }

  /**
   * Real servers by the backend names we know, with weight and connection limit as the kernel has
   * them; a forwarding method other than ours reads as weight -1.
   */
  private observedServers(farm: FarmState, wanted: IpvsService, primary: IpvsService): RealServerSpec[] {
    const byDest = new Map<string, RealServerSpec>();
    for (const server of farm.servers) {
      const port = wanted.kind === 'fwmark' ? 0 : wanted.dests.find((d) => d.address === server.address.toLowerCase())?.port ?? server.port;
      const key = destKey({ address: server.address.toLowerCase(), port });
      if (!byDest.has(key)) byDest.set(key, server);
    }
    const forward = forwardOf(this.method);
    return primary.dests.map((dest) => {
      const known = byDest.get(destKey(dest));
      const weight = dest.forward === forward ? dest.weight : -1;
      const limit = dest.upperThreshold ? { maxConnections: dest.upperThreshold } : {};
      if (!known) return { name: destKey(dest), address: dest.address, port: dest.port, weight, ...limit };
      const { maxConnections: _asked, ...rest } = known;
      return { ...rest, weight, ...limit };
    });
  }

  /**
   * Where the last apply() spent its time, in ms: reading the table, planning (recording the
   * changes, mapping the farms, diffing against the table), ipvsadm, the
   * read-back (only after an `ipvsadm -R` batch: a single command's exit status is its verdict).
   */
  lastApply = { readMs: 0, planMs: 0, runMs: 0, verifyMs: 0, commands: 0 };

  async apply(changes: readonly Change[], observed?: readonly FarmState[]): Promise<void> {
    if (changes.length === 0) return;
    let mark = performance.now();
    const lap = () => {
      const now = performance.now();
      const ms = now - mark;
      mark = now;
      return ms;
    };
    const { wanted, owned } = this.stage(this.asked, changes);
    const stageMs = lap();
    const read = observed && this.tables.get(observed);
    if (observed) this.tables.delete(observed);
    const kernel = read ?? (await this.table());
    const readMs = lap();
    const commands = planCommands(wanted, kernel, owned);
    const planMs = stageMs + lap();
    const batched = commands.length > this.batchAbove;
    if (batched) await this.runBatch(commands);
    else for (const argv of commands) {
      this.history.push(argv);
      await ipvsadm(this.ipvsadmPath, argv, {}, this.run);
    }
    const runMs = lap();
    if (batched) await this.verify(wanted);
    this.lastApply = { readMs, planMs, runMs, verifyMs: lap(), commands: commands.length };
    await this.syncMarks();
  }

  /** What apply() would run for these changes against the kernel's table now, without running it. */
  async plan(changes: readonly Change[]): Promise<string[][]> {
    const { wanted, owned } = this.stage(new Map(this.asked), changes);
    return planCommands(wanted, await this.table(), owned);
  }

  /** Records the changes into `farms`; returns the touched farms' services and the keys they held before. */
  private stage(farms: Map<string, FarmState>, changes: readonly Change[]): { wanted: IpvsService[]; owned: Set<string> } {
    const touched = new Set<string>();
    const owned = new Set<string>();
    for (const change of changes) {
      const name = changedFarm(change);
      if (touched.has(name)) continue; // once per farm: 1,000 server changes of one farm map it once
      touched.add(name);
      const before = farms.get(name);
      if (before) for (const s of farmServices(before, this.method)) owned.add(serviceKey(s));
    }
    recordChanges(farms, changes);
    const wanted = [...touched].flatMap((name) => {
      const farm = farms.get(name);
      return farm ? farmServices(farm, this.method) : [];
    });
    return { wanted, owned };
  }

  private async runBatch(commands: readonly string[][]): Promise<void> {
    // ipvsadm -R goes on after a kernel error and exits with the status of the last line only,
    // so the batch is judged by reading the table back (verify), with its stderr as the reason.
    this.history.push(['-R', `(${commands.length} rules)`]);
    const result = await this.run(this.ipvsadmPath, ['-R'], { input: `${commands.map((c) => c.join(' ')).join('\n')}\n` });
    this.lastBatchErrors = result.code === 0 ? result.stderr.trim() : `exit ${result.code}: ${result.stderr.trim()}`;
  }

  private lastBatchErrors = '';

  private async verify(wanted: readonly IpvsService[]): Promise<void> {
    const kernel = new Map((await this.table()).map((s) => [serviceKey(s), s]));
    const wrong = wanted.filter((s) => {
      const there = kernel.get(serviceKey(s));
      return !there || !sameServices(s, there);
    });
    const errors = this.lastBatchErrors;
    this.lastBatchErrors = '';
    if (wrong.length > 0) {
      const which = wrong.map(serviceKey).join(', ');
      throw new IpvsadmError(`ipvsadm: after applying, the kernel table differs from what was asked for in ${which}${errors ? `; ipvsadm -R said: ${errors}` : ''}`, ['-R'], null, errors);
    }
  }

  private async syncMarks(): Promise<void> {
    const farms = [...this.asked.values()];
    const rules = markRules(farms.map((f) => f.service));
    const snat = snatRules(farms, this.method);
    const text = [...rules, ...snat].join('\n');
    if (text === this.marksApplied || (text === '' && this.marksApplied === undefined)) return;
    await applyMarks(this.nftPath, rules, snat, this.run);
    this.marksApplied = text;
  }

  async close(): Promise<void> {}
}


/** The factory for `dataplane: {type: ipvsadm, method, ipvsadm}`. */
export function createIpvsadmAdapter(config: DataplaneConfig): IpvsadmAdapter {
  if (config.type !== 'ipvsadm') throw new Error(`the ipvsadm adapter cannot run a "${config.type}" data plane`);
  return new IpvsadmAdapter({ ipvsadm: config.ipvsadm, method: config.method });
}
