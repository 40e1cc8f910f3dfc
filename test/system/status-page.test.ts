// The live status page in a real browser: Debian's headless Chromium, driven by playwright-core,
// opens `/` of an `lbguard run` process checking two real sshd backends. One sshd is stopped; the
// page, never reloaded, shows that backend falling and then down, its failing check line, and the
// transition, then up again once it is restarted. A screenshot of the down moment is kept in
// test-artefacts/ (gitignored).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { launchChromium, waitInPage } from '../helpers/browser.ts';
import { freePort, ROOT } from '../helpers/processes.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';

const LBGUARD = join(ROOT, 'dist', 'lbguard.mjs');
const ARTEFACTS = join(ROOT, 'test-artefacts');
const dir = mkdtempSync(join(tmpdir(), 'lbguard-page-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let first: Sshd;
let second: Sshd;
t.before(async () => {
  [first, second] = await Promise.all([startSshd(), startSshd()]);
});
t.teardown(async () => {
  await Promise.all([first?.stop(), second?.stop()]);
});

t.test('a backend stopped goes down on the open page, without a reload', async (t) => {
  const statusPort = await freePort();
  const farms = join(dir, 'farms.yaml');
  // JSON is YAML: the farms file as an object
  const farm = {
    name: 'sftp',
    service: 'sftp',
    virtual: { address: '192.0.2.22', ports: [22] },
    check: { probe: 'ssh', interval: '300ms', timeout: '250ms', rise: 1, fall: 2 },
    backends: [first, second].map((sshd, i) => ({ name: `sftp-${i + 1}`, address: '127.0.0.1', port: sshd.port })),
  };
  writeFileSync(farms, JSON.stringify({ status: { listen: `127.0.0.1:${statusPort}` }, state: { file: join(dir, 'state.json') }, farms: [farm] }));
  const lbguard = spawn(process.execPath, [LBGUARD, 'run', '-c', farms], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  lbguard.stdout.on('data', (d) => (output += d));
  lbguard.stderr.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => lbguard.once('exit', () => resolve()));
  t.teardown(async () => {
    if (lbguard.exitCode === null && lbguard.signalCode === null) {
      lbguard.kill('SIGTERM');
      await exited;
    }
  });

  const { context, page } = await launchChromium(dir, { width: 1100, height: 600 });
  t.teardown(() => context.close());
  const requests: string[] = [];
  page.on('request', (r) => requests.push(new URL(r.url()).host));
  let navigations = 0;
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations++;
  });

  const url = `http://127.0.0.1:${statusPort}/`;
  for (let i = 0; ; i++) {
    try {
      await page.goto(url, { timeout: 5000 });
      break;
    } catch (error) {
      if (i >= 50) throw new Error(`${url} never answered: ${(error as Error).message}\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  t.equal(await page.title(), 'lbguard status');
  const row = (name: string) => page.locator(`tr[data-backend="sftp/${name}"]`);
  const state = (name: string) => row(name).locator('.state');
  await waitInPage(page, `document.querySelectorAll('tr[data-backend] .state.up').length === 2`, 10000);
  t.equal(await state('sftp-1').textContent(), 'up');
  t.match(await row('sftp-1').locator('td.line').textContent(), /^SSH OK - OpenSSH_/);
  t.match(await row('sftp-1').locator('td').nth(4).textContent(), /^\d+(\.\d+)? ms$/, 'latency shown');
  t.match(await page.locator('h2').first().textContent(), /^sftp \(sftp, data plane /);
  // a mark in the page's own memory: a reload would wipe it (page code is given as text: no DOM types here)
  await page.evaluate(`window.lbguardMark = 'same page'`);
  const navigationsBefore = navigations;

  const stoppedAt = Date.now();
  await first.kill();
  await waitInPage(page, `document.querySelector('tr[data-backend="sftp/sftp-1"] .state')?.textContent === 'down'`, 10000);
  const seenAfter = Date.now() - stoppedAt;
  t.comment(`the page showed sftp-1 down ${seenAfter} ms after its sshd stopped (interval 300 ms, fall 2, page polls every second)`);
  t.equal(await state('sftp-1').getAttribute('class'), 'state down', 'styled as down');
  t.match(await row('sftp-1').locator('td.line').textContent(), /Connection refused/, 'the failing check line');
  t.equal(await state('sftp-2').textContent(), 'up', 'the other backend stays up');
  await waitInPage(page, `[...document.querySelectorAll('#transitions tr')].some((tr) => tr.textContent.includes('sftp/sftp-1') && tr.textContent.includes('→ down'))`, 5000);
  const transitions = await page.locator('#transitions tr').allTextContents();
  t.ok(transitions.some((row) => row.includes('sftp/sftp-1') && /→ down.*Connection refused/.test(row)), 'the transition to down, with its check line');
  t.equal(await page.evaluate(`window.lbguardMark`), 'same page', 'not reloaded');
  t.equal(navigations, navigationsBefore, 'no navigation since the backend was stopped');
  t.same([...new Set(requests)], [`127.0.0.1:${statusPort}`], 'the page fetched from lbguard only');

  mkdirSync(ARTEFACTS, { recursive: true });
  const shot = join(ARTEFACTS, 'status-page-backend-down.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.ok(statSync(shot).size > 5000, `screenshot kept: ${shot}`);

  // and back: the same sshd started again comes back up on the same page (rise 1)
  await first.start();
  await waitInPage(page, `document.querySelector('tr[data-backend="sftp/sftp-1"] .state')?.textContent === 'up'`, 10000);
  t.match(await row('sftp-1').locator('td.line').textContent(), /^SSH OK - /, 'back up, with its passing check line');
  t.equal(navigations, navigationsBefore, 'still the same page');
});
