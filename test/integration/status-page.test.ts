import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  cli,
  git,
  initRemote,
  makePair,
  removeDir,
  startCli,
  writeDomain,
  writeUser,
  type Pair,
} from '../helpers/fixture.js';
import { requireSystem } from '../helpers/system.js';

/** Debian's chromium (.ci/system-packages.txt); never a downloaded browser. */
const CHROMIUM = '/usr/bin/chromium';
const system = requireSystem(['chromium']);
const children: ChildProcess[] = [];
const pairs: Pair[] = [];
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!system.ok) return;
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing though the chromium package is installed: reinstall it (apt-get install --reinstall chromium)`,
    );
  profile = mkdtempSync(join(tmpdir(), 'gf-chromium-'));
  // A fresh profile each run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  if (profile) removeDir(profile);
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const p of pairs.splice(0)) removeDir(p.dir);
});

describe.skipIf(!system.ok)('status page in a real browser', () => {
  it('loads, shows the latest commit after a sync with its diff escaped, updates by itself, and logs no console error', async () => {
    const p = makePair();
    pairs.push(p);
    await initRemote(p);
    writeFileSync(
      p.standby,
      readFileSync(p.standby, 'utf8') +
        stringify({ sync: { automatic: true, interval: '200ms' }, notify: { listen: '127.0.0.1:0' } }),
    );
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    const standby = await startCli(['standby', '-c', p.standby], /standby ready on (\S+):/);
    children.push(standby.child);
    const base = `http://${/standby ready on (\S+):/.exec(standby.output())![1]!}`;

    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));

    const first = (await git(['rev-parse', 'main'], p.remote)).trim();
    await page.goto(`${base}/`);
    await page.waitForSelector(`article.commit[data-commit="${first}"]`, { timeout: 15_000 });
    await expectText(page, '#ready', 'yes');

    // A new commit whose content looks like markup: the page updates by itself and shows it as text.
    writeUser(p.prodLive, 'acme', 'bob', { home: '/data/<img src=x onerror=alert(1)>' });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    const second = (await git(['rev-parse', 'main'], p.remote)).trim();
    await page.waitForSelector(`article.commit[data-commit="${second}"]`, { timeout: 15_000 });
    const article = page.locator(`article.commit[data-commit="${second}"]`);
    await expect.poll(() => article.locator('.subject').textContent()).toBe('acme: add user bob');
    await article.locator('summary').click();
    const diff = await article.locator('pre.diff').first().textContent();
    expect(diff).toContain('+home: /data/<img src=x onerror=alert(1)>');
    expect(await page.locator('pre.diff img').count()).toBe(0);
    await expect.poll(() => page.locator('#activity').textContent()).toContain('partial');
    expect(await page.locator('#lag svg polyline').count()).toBe(1);
    // The opened diff stays open across the page's own updates.
    await page.waitForTimeout(3_500);
    expect(await article.locator('details').getAttribute('open')).not.toBeNull();
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);
});

async function expectText(page: import('playwright-core').Page, selector: string, text: string): Promise<void> {
  await expect.poll(() => page.locator(selector).textContent(), { timeout: 15_000 }).toBe(text);
}
