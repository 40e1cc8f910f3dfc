// The status page under real traffic, in Debian's headless Chromium (playwright-core): `lbguard run`
// with the userspace data plane in front of two real vsftpd backends, status on loopback with an
// admin-token-file. curl downloads (rate-limited, so sessions stay open) go through the virtual
// address; the page, never reloaded, shows sessions open and their total rising, bytes out and a
// rate moving, the latency charts filling. A maintenance button refuses without the token and takes
// the backend out once the operator enters it: the request carries `Authorization: Bearer` and no
// cookie. A screenshot is kept in test-artefacts/ (docs/status-page.png is one of these).
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { launchChromium, waitInPage } from '../helpers/browser.ts';
import { freePort, freePortRange, requireBinary, ROOT, runCommand } from '../helpers/processes.ts';
import { secretFile, startLbguardRun } from '../helpers/status-files.ts';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.ts';

const CURL = requireBinary('/usr/bin/curl', 'curl');
const ARTEFACTS = join(ROOT, 'test-artefacts');
const VIP = '127.0.0.2';
const BIG = 2 * 1024 * 1024;
// several daemon and client starts (and a browser): on a loaded 2-core machine beyond the default 120 s
t.setTimeout(300_000);
const dir = mkdtempSync(join(tmpdir(), 'lbguard-page-traffic-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('sessions and bytes move on the open page; a button takes a backend out only with the token', async (t) => {
  // paced by the servers: a client's --limit-rate only slows its reads, and loopback's socket buffers
  // (tcp_rmem up to 32 MiB) would take a whole file through the balancer in its first second
  const backends: Vsftpd[] = await Promise.all([startVsftpd({ anonMaxRate: 256 * 1024 }), startVsftpd({ anonMaxRate: 256 * 1024 })]);
  t.teardown(() => Promise.all(backends.map((b) => b.stop())));
  for (const b of backends) {
    writeFileSync(join(b.dir, 'anon', 'big.bin'), randomBytes(BIG));
    chmodSync(join(b.dir, 'anon', 'big.bin'), 0o644);
  }
  const [statusPort, port, passive] = await Promise.all([freePort(), freePort(), freePortRange(10)]);
  const token = randomBytes(24).toString('hex');
  const farms = join(dir, 'farms.yaml');
  writeFileSync(farms, JSON.stringify({
    status: { listen: `127.0.0.1:${statusPort}`, 'admin-token-file': secretFile(dir, 'admin.token', `${token}\n`) },
    farms: [{
      name: 'ftp', service: 'ftp', virtual: { address: VIP, ports: [port] }, scheduler: 'rr',
      dataplane: { type: 'userspace', 'passive-ports': `${passive}-${passive + 9}` },
      // lenient: on a loaded machine a slow greeting must not take a backend out during the test
      check: { probe: 'ftp', interval: '1s', timeout: '900ms', rise: 1, fall: 5 },
      backends: backends.map((b, i) => ({ name: `ftp-${i + 1}`, address: '127.0.0.1', port: b.port, 'max-conns': 50 })),
    }],
  }));
  const lbguard = await startLbguardRun(t, farms);

  const { context, page } = await launchChromium(dir, { width: 1400, height: 560 });
  t.teardown(() => context.close());
  const posts: { authorization?: string; cookie?: string }[] = [];
  page.on('request', (r) => {
    if (r.method() === 'POST') posts.push({ authorization: r.headers().authorization, cookie: r.headers().cookie });
  });
  let navigations = 0;
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations++;
  });
  await page.goto(`http://127.0.0.1:${statusPort}/`, { timeout: 30000 });
  await waitInPage(page, `document.querySelectorAll('tr[data-backend] .state.up').length === 2`, 20000);
  const navigationsBefore = navigations;
  const cell = (backend: string, column: string) => page.locator(`tr[data-backend="ftp/${backend}"] td.${column}`).textContent();
  const sumOf = (column: string) => `[...document.querySelectorAll('tr[data-backend] td.${column}')].reduce((n, td) => n + parseFloat(td.textContent), 0)`;
  t.equal(await page.evaluate(sumOf('total')), 0, 'no session yet');
  t.match(await cell('ftp-1', 'sessions'), /^0 \/ 50$/, 'sessions open / max-conns');
  t.match(await page.locator('.dp').first().textContent(), /last apply \d+s ago · \d+ change\(s\) applied/, 'the data plane\'s last apply');

  // four downloads at 256 KiB/s each: about 8 s of open sessions on both backends (round robin)
  const downloads = Array.from({ length: 4 }, () => runCommand(CURL, ['-sS', '--max-time', '40', '-o', '/dev/null', '-w', '%{size_download}', `ftp://${VIP}:${port}/big.bin`], { timeoutMs: 60_000 }));
  await waitInPage(page, `${sumOf('sessions')} >= 2`, 15000);
  t.pass('the page shows sessions open while the downloads run');
  await waitInPage(page, `[...document.querySelectorAll('td.bytes-out .sub')].some((d) => /^[1-9][\\d.]* (KiB|MiB)\\/s$/.test(d.textContent))`, 15000);
  const rate = await page.locator('td.bytes-out .sub').allTextContents();
  t.comment(`rates shown: ${rate.join(', ')}`);
  const firstOut = await page.evaluate(`[...document.querySelectorAll('td.bytes-out')].map((td) => td.firstChild.textContent).join(', ')`);
  await waitInPage(page, `[...document.querySelectorAll('td.bytes-out')].map((td) => td.firstChild.textContent).join(', ') !== ${JSON.stringify(firstOut)}`, 10000);
  t.pass(`bytes out move on the page (from ${firstOut})`);
  mkdirSync(ARTEFACTS, { recursive: true });
  const shot = join(ARTEFACTS, 'status-page-traffic.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.ok(statSync(shot).size > 10000, `screenshot under traffic kept: ${shot}`);

  const results = await Promise.all(downloads);
  t.same(results.map((r) => r.stdout), Array(4).fill(String(BIG)), `every download whole ${results.map((r) => `(exit ${r.code}${r.stderr ? `: ${r.stderr.trim()}` : ''})`).join(' ')}`);
  await waitInPage(page, `${sumOf('total')} >= 4 && ${sumOf('sessions')} === 0`, 15000);
  t.pass('afterwards: at least 4 sessions in total, none open');
  t.match(await cell('ftp-1', 'bytes-out'), /MiB/, 'ftp-1 sent MiBs');
  t.match(await cell('ftp-2', 'bytes-out'), /MiB/, 'ftp-2 sent MiBs');
  t.ok(await page.locator('tr[data-backend="ftp/ftp-1"] svg.chart rect[fill="#2da44e"]').count() >= 2, 'the latency chart shows passed checks');

  // the button without the token: refused, nothing changes
  const button = page.locator('tr[data-backend="ftp/ftp-1"] button');
  t.equal(await button.textContent(), 'maintenance');
  await button.click();
  await waitInPage(page, `document.getElementById('notice').textContent.includes('refused')`, 10000);
  t.equal(await page.locator('#notice').textContent(), 'ftp/ftp-1 into maintenance: refused, the admin token is needed (enter it above)');
  t.not(await page.locator('tr[data-backend="ftp/ftp-1"] .state').textContent(), 'maintenance', 'still in service');
  // the operator enters the token: the same button now works
  await page.fill('#token', token);
  await page.click('#auth button[type=submit]');
  await page.locator('tr[data-backend="ftp/ftp-1"] button').click();
  await waitInPage(page, `document.querySelector('tr[data-backend="ftp/ftp-1"] .state')?.textContent === 'maintenance'`, 10000);
  t.equal(await page.locator('#notice').textContent(), 'ftp/ftp-1 into maintenance: done');
  const status = (await (await fetch(`http://127.0.0.1:${statusPort}/status`)).json()) as { farms: { backends: { name: string; state: string; weight: number }[] }[] };
  t.same(status.farms[0]!.backends.map((b) => [b.name, b.state === 'maintenance', b.weight === 0]), [['ftp-1', true, true], ['ftp-2', false, false]], 'the daemon has it');
  t.same(posts.map((p) => [p.authorization === undefined ? 'no header' : p.authorization === `Bearer ${token}` ? 'the token' : 'another', p.cookie ?? 'no cookie']),
    [['no header', 'no cookie'], ['the token', 'no cookie']], 'the token goes as a Bearer header, never a cookie');
  t.equal(await page.evaluate(`document.cookie`), '', 'no cookie at all');
  t.equal(await page.locator('#token').inputValue(), '', 'the field is emptied once the token is taken');
  t.equal(navigations, navigationsBefore, 'never reloaded');
  t.match(lbguard.output(), /"event":"control-request","peer":"127\.0\.0\.1".*"status":401.*\n(.*\n)*.*"event":"control-request","peer":"127\.0\.0\.1".*"status":200,"result":"done"/, 'both requests logged');
  t.notMatch(lbguard.output(), token, 'the token is not logged');
  await page.screenshot({ path: join(ARTEFACTS, 'status-page-maintenance.png'), fullPage: true });
  t.equal(await lbguard.stop(), 0);
});
