// Debian's headless Chromium for the status page's tests, driven by playwright-core.
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { requireBinary } from './processes.ts';

/** Chromium with a fresh profile in a directory under `dir`, no network of its own, no sandbox (root). */
export async function launchChromium(dir: string, viewport: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page }> {
  const executablePath = requireBinary('/usr/bin/chromium', 'chromium');
  // playwright takes the profile directory as launchPersistentContext's first argument (--user-data-dir)
  const context = await chromium.launchPersistentContext(mkdtempSync(join(dir, 'chromium-')), {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport,
    timeout: 30000,
  });
  return { context, page: context.pages()[0] ?? (await context.newPage()) };
}

/**
 * Evaluates `expression` in the page every `pollMs` until it is truthy. Polled from here, not with
 * waitForFunction: the page's Content-Security-Policy forbids the eval that one runs in the page.
 */
export async function waitInPage(page: Page, expression: string, timeoutMs = 10_000, pollMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await page.evaluate(expression)) return;
    if (Date.now() > deadline) throw new Error(`the page never showed: ${expression}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
