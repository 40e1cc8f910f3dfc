#!/usr/bin/env node
// check_tftp: a thin CLI over the TFTP probe (plugins/tftp). The classic forms (--connect, --get) have
// their own argument shapes and output lines, so they are told apart before the standard parser runs.
import { integrationFor } from './runtime/integration.ts';
import { runPlugin } from './runtime/plugin.ts';
import { isCompatInvocation, runCompat } from './tftp/compat.ts';
import { checkTftpPlugin } from './tftp/definition.ts';

const argv = process.argv.slice(2);
// --nanny or --misc-dynamic with a classic form: the classic line, with the exit status that
// consumer reads (nanny: 0 always); runPlugin handles the other forms and bad integration options
const integration = integrationFor(argv);
const classic = integration.mode !== 'ldirectord' && !integration.problem && isCompatInvocation(integration.argv);
const exitCode = integration.mode === 'nagios' ? undefined : (state: number) => integration.finish('', state).code;
void (classic ? runCompat(integration.argv, exitCode) : runPlugin(checkTftpPlugin, argv));
