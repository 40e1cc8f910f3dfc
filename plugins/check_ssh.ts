#!/usr/bin/env node
// check_ssh: a thin CLI over the SSH probe (plugins/ssh); everything else lives in the runtime.
import { runPlugin } from './runtime/plugin.ts';
import { checkSshPlugin } from './ssh/definition.ts';

void runPlugin(checkSshPlugin);
