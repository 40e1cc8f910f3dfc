// A Zevenet appliance takes backend weights 1..9 only (zapi-model/v4.0 farm_l4xnat_service_backend-modify:
// `weight` interval 1,9; anything else is refused with 400). lbguard weights go up to 65535 (and a
// dynamic check may ask for any of them), so each farm's weights are mapped onto 1..9:
// - a farm whose largest weight is 9 or less is sent as it is;
// - otherwise every weight is scaled so that the largest becomes 9: round(weight * 9 / largest),
//   never below 1 (a serving backend keeps getting a share);
// - weight 0 is not a weight there: it is maintenance `drain` (no new sessions, established ones finish).

export const APPLIANCE_MAX_WEIGHT = 9;

/** The appliance weight (1..9) of a serving lbguard weight, given the farm's largest serving weight. */
export function applianceWeight(weight: number, largest: number): number {
  if (largest <= APPLIANCE_MAX_WEIGHT) return Math.max(1, weight);
  return Math.min(APPLIANCE_MAX_WEIGHT, Math.max(1, Math.round((weight * APPLIANCE_MAX_WEIGHT) / largest)));
}

/** The largest weight among a farm's serving backends (0 when none serves). */
export function largestWeight(weights: Iterable<number>): number {
  let largest = 0;
  for (const w of weights) largest = Math.max(largest, w);
  return largest;
}

/** Each backend's appliance weight by name; 0 (drain) stays 0. */
export function applianceWeights(servers: readonly { readonly name: string; readonly weight: number }[]): Map<string, number> {
  const largest = largestWeight(servers.map((s) => s.weight));
  return new Map(servers.map((s) => [s.name, s.weight === 0 ? 0 : applianceWeight(s.weight, largest)]));
}
