// `check.probe: command` of the farms file, as a BackendCheck: the config's check block becomes a
// CommandCheckSpec once, and every run turns a CommandResult into the health record's Verdict.
// backend-check.ts uses it for `probe: command`.
import { UsageError } from '../../plugins/runtime/errors.ts';
import type { CheckConfig, FarmConfig } from '../config/schema.ts';
import type { BackendCheck, CheckTarget } from './types.ts';
import { type CommandCheckSpec, commandProblem, runCommandCheck } from './command.ts';

export function commandSpecFromCheck(check: CheckConfig): CommandCheckSpec {
  if (check.command === undefined) throw new UsageError('probe "command" needs a command');
  const spec: CommandCheckSpec = {
    command: check.command,
    style: check.style,
    useRegex: check['use-regex'],
    dynamic: check.dynamic,
    timeoutMs: check.timeout,
    ...(check.expect === undefined ? {} : { expect: check.expect }),
  };
  const problem = commandProblem(spec);
  if (problem) throw new UsageError(`check.command: ${problem}`);
  return spec;
}

export function commandBackendCheck(farm: FarmConfig, target: CheckTarget): BackendCheck {
  const spec = commandSpecFromCheck(farm.check);
  return async (signal) => {
    const result = await runCommandCheck(spec, target, signal);
    return { ok: result.up, line: result.line, ms: result.ms, ...(result.weight === undefined ? {} : { weight: result.weight }) };
  };
}
