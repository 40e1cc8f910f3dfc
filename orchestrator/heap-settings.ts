import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * V8 settings `lbguard run` takes for itself, so that the daemon stays small however it is started
 * (a shell, systemd, a container): nothing to pass by hand.
 *
 * A checking daemon allocates at a steady rate (a few KB per check, thousands of checks a second)
 * and keeps little: some 3 KB per backend. With V8's defaults the young generation grows to 2 x 16
 * MB and the old one to several times what is alive before a full collection runs, which made a
 * 2,000-backend daemon 140 MB of which 25 MB was alive (measured in `npm run bench -- orchestrator`).
 * - The young generation is held at 2 x 8 MB, where V8 would double it to 2 x 16 MB: grown to it
 *   at once, then held. V8 grows it only when much of it survives a scavenge: loading the bundle
 *   did that when it loaded execa, and a balancer's traffic never does (its buffers die young). Left
 *   at the 1 MB a small farms file gave, a TFTP daemon ran 61 scavenges for 20 gets of 1 MiB where
 *   it had run 7, and objects that a storm's 200 sessions keep for a round trip were promoted. Left
 *   at 2 x 4 MB, 10,000 backends took 167-170 MB and 128-135 us of CPU per check against 176-178 MB
 *   and 112-136 us (load 4-5); let grow freely, the burst of building 10,000 checks took it past
 *   2 x 8 MB (190-194 MB). Smaller costs
 *   CPU: held at 2 x 1 MB from the first line (a launcher tried), what a check keeps for a few ms
 *   outlives more scavenges and is copied to the old generation; 10,000 backends took 330-350 us
 *   of CPU per check instead of 230-245, for 13 MB less.
 * - The old generation may grow to twice what was alive after the last full collection before the
 *   next one, instead of up to 4x. Tighter costs more than it saves: at 10,000 backends (5,000
 *   checks/s, 45 MB alive) 30 % past it made full collections take the loop (560 us of CPU per
 *   check instead of 260, two thirds of the checks due not run); twice it, 160 MB and the CPU
 *   per check of V8's default, which reached 230-240 MB.
 * Both are read by V8 while it runs (unlike --max-semi-space-size, fixed when the heap is made), so
 * they take effect from here on. One the operator passed to node (`node --heap-growing-percent=50
 * lbguard.mjs run`; NODE_OPTIONS takes neither) is left as is.
 */
export const DAEMON_V8_FLAGS: readonly string[] = ['--semi-space-growth-factor=1', '--heap-growing-percent=100'];

const HOLD_YOUNG_GENERATION = '--semi-space-growth-factor=1';
/** the young generation's size (both semi-spaces, new_space's space_size) it is held at */
const YOUNG_GENERATION_BYTES = 2 * 8 * 2 ** 20;

function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
}

/**
 * Grows the young generation to YOUNG_GENERATION_BYTES now, by keeping small objects alive across a
 * few scavenges as loading modules does (bounded: 16 MB of them at most), then lets them go.
 */
function growYoungGeneration(): void {
  setFlagsFromString('--semi-space-growth-factor=2');
  let kept: object[] = [];
  for (let i = 0; i < 500_000; i++) {
    kept.push({ i });
    if (i % 1024 === 0 && youngGenerationBytes() >= YOUNG_GENERATION_BYTES) break;
  }
  kept = [];
  setFlagsFromString(HOLD_YOUNG_GENERATION);
}

/** The flag's name without its value: `--heap-growing-percent`. */
function flagName(flag: string): string {
  return flag.split('=')[0]!.replace(/_/g, '-');
}

/** Sets DAEMON_V8_FLAGS but those the operator gave; returns the flags set. */
export function tuneHeapForDaemon(given: readonly string[] = process.execArgv): string[] {
  const taken = new Set(given.filter((arg) => arg.startsWith('--')).map(flagName));
  const applied = DAEMON_V8_FLAGS.filter((flag) => !taken.has(flagName(flag)));
  for (const flag of applied) setFlagsFromString(flag);
  if (applied.includes(HOLD_YOUNG_GENERATION) && youngGenerationBytes() < YOUNG_GENERATION_BYTES) growYoungGeneration();
  return applied;
}
