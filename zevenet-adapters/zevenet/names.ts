// The names a Zevenet appliance takes (its API routes, usr/share/perl5/Zevenet/Validate.pm): farms
// [a-zA-Z0-9-]+, Farm Guardian objects [\w-]+. A name outside them is "Request not found" on every
// call, so lbguard refuses it when the farms file is checked, not on the appliance.
import type { FarmConfig } from '../../orchestrator/config/schema.ts';

const FARM_NAME = /^[a-zA-Z0-9-]+$/;
const GUARDIAN_NAME = /^[\w-]+$/;

/** The Farm Guardian object `lbguard render farmguardian` prints for a farm. */
export function guardianName(farm: string): string {
  return `lbguard-${farm}`;
}

/** Why the appliance would refuse this Farm Guardian name, or undefined. */
export function guardianNameProblem(farm: string): string | undefined {
  const name = guardianName(farm);
  return GUARDIAN_NAME.test(name) ? undefined : `the Farm Guardian name "${name}" would be refused by a Zevenet appliance (letters, digits, "_" and "-" only): rename the farm`;
}

/** Problems of a farm whose data plane is a Zevenet appliance, with the key they are at. */
export function zevenetNameProblems(farm: FarmConfig): { key: 'name' | 'dataplane.farm'; message: string }[] {
  if (farm.dataplane.type !== 'zevenet') return [];
  const problems: { key: 'name' | 'dataplane.farm'; message: string }[] = [];
  const applianceFarm = farm.dataplane.farm ?? farm.name;
  if (!FARM_NAME.test(applianceFarm)) {
    const key = farm.dataplane.farm === undefined ? 'name' : 'dataplane.farm';
    problems.push({ key, message: `a Zevenet appliance's farm names are letters, digits and "-" only, got "${applianceFarm}"${key === 'name' ? ' (set dataplane.farm to the appliance\'s name)' : ''}` });
  }
  const guardian = guardianNameProblem(farm.name);
  if (guardian) problems.push({ key: 'name', message: guardian });
  return problems;
}
