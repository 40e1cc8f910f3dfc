#!/usr/bin/env node
// check_ftp: a thin CLI over the FTP probe (plugins/ftp); everything else lives in the runtime.
import { checkFtpPlugin } from './ftp/definition.ts';
import { runPlugin } from './runtime/plugin.ts';

void runPlugin(checkFtpPlugin);
