#!/usr/bin/env node
// check_tftp: a thin CLI over the TFTP probe (plugins/tftp). The classic forms (--connect, --get) have
// their own argument shapes and output lines, so they are told apart before the standard parser runs.
import { runPlugin } from './runtime/plugin.ts';
import { isCompatInvocation, runCompat } from './tftp/compat.ts';
import { checkTftpPlugin } from './tftp/definition.ts';

const argv = process.argv.slice(2);
// `--nanny` with a classic form: the classic line, exit 0 always (runPlugin handles the other forms)
const classic = argv.filter((a) => a !== '--nanny');
void (isCompatInvocation(classic) ? runCompat(classic, classic.length < argv.length ? () => 0 : undefined) : runPlugin(checkTftpPlugin, argv));
