#!/usr/bin/env node
// check_tftp: a thin CLI over the TFTP probe (plugins/tftp). The classic forms (--connect, --get) have
// their own argument shapes and output lines, so they are told apart before the standard parser runs.
import { integrationFor } from './runtime/integration.ts';
import { runPlugin } from './runtime/plugin.ts';
import { isCompatInvocation, runCompat } from './tftp/compat.ts';
import { checkTftpPlugin } from './tftp/definition.ts';

const argv = process.argv.slice(2);
// The classic forms exist for nanny's send_program (the LVS TFTP recipe's `check_tftp --connect %h`),
// and nanny counts a non-zero exit as up: so they exit 0 whatever the line says, as --nanny does.
// With --misc-dynamic they exit as keepalived reads it. runPlugin handles the -H form and bad
// integration options.
const integration = integrationFor(argv);
const classic = integration.mode !== 'ldirectord' && !integration.problem && isCompatInvocation(integration.argv);
const exitCode = integration.mode === 'misc-dynamic' ? (state: number) => integration.finish('', state).code : () => 0;
void (classic ? runCompat(integration.argv, exitCode) : runPlugin(checkTftpPlugin, argv));
