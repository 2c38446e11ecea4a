import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import { silentLog } from '../libs/common/src';
import { DemoLive, runDemo } from '../apps/cli/src/demo/run-demo';

/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) against the
 * demo's real federation: 2 synthetic hospitals, the coordinator in this process, two agent
 * processes, 1 SSL + 1 fine-tune round, the final and cross-site evaluations. It signs in, watches
 * the run to completion, checks every AUC shown against GET /runs/{id}/results, opens the
 * cross-site matrix, revokes a site as admin and is refused as an observer. Screenshots of each
 * page go to $PHCC_SCREENSHOT_DIR (docs/img when refreshing the README's), else a temp folder.
 */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];
jest.setTimeout(300_000);

/** Two mistakes the coordinator names by field: a quorum of 0 and an unknown encoding. */
const BAD_PLAN = `name: typo run
stages:
  finetune: { rounds: 2, localEpochs: 1, optimiser: { name: adam, lr: 0.001 }, batchSize: 8 }
strategy: { name: fedavg }
quorum:
  minSites: 0
roundDeadlineSeconds: 600
encoding: float12
evaluation: { final: true }
seed: 1
`;

interface Results {
  evaluation: {
    final: { pooledAuc: number | null; sites: Record<string, { auc: number | null }> } | null;
    crossSite: { matrix: Record<string, Record<string, { auc: number | null }>> } | null;
  };
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('dashboard in chromium, on a live federation', () => {
  let out: string;
  let shots: string;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: "apt-get install chromium" (.ci/run installs it)`);
    }
    out = mkdtempSync(join(tmpdir(), 'phcc-dashboard-e2e-'));
    shots = process.env.PHCC_SCREENSHOT_DIR ?? join(out, 'screenshots');
    mkdirSync(shots, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  });
  afterAll(async () => {
    await browser?.close();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  const shoot = (page: Page, name: string, fullPage = false) =>
    // The names the README shows, so PHCC_SCREENSHOT_DIR=docs/img refreshes its pictures in place.
    page.screenshot({ path: join(shots, `dashboard-${name}.png`), fullPage });

  async function signIn(page: Page, live: DemoLive, token: string, role: string) {
    await page.goto(live.dashboardUrl);
    await page.fill('#token', token);
    await page.click('button[type=submit]');
    await page.waitForSelector(`.role[data-role=${role}]`);
    expect(page.url()).not.toContain(token);
  }

  it('signs in, watches a run to the end, checks the AUCs, revokes a site, and refuses an observer', async () => {
    const created = deferred<DemoLive>();
    const watching = deferred();
    const checked = deferred();
    const finished = deferred();
    const demo = runDemo({
      outDir: out,
      sites: 2,
      patients: 24,
      quick: true,
      sslRounds: 1,
      finetuneRounds: 1,
      seed: 1,
      logLevel: 'silent',
      backend: 'wasm',
      timeoutS: 200,
      log: silentLog,
      print: () => undefined,
      // The run waits for the browser, so the page watches it start and end however fast it is.
      onRunCreated: async (live) => {
        created.resolve(live);
        await watching.promise;
      },
      afterRun: async () => {
        finished.resolve();
        await checked.promise; // the coordinator stays up until the browser is done
      },
    });
    demo.catch(() => undefined);
    const live = await Promise.race([
      created.promise,
      demo.then(() => Promise.reject(new Error('demo ended early'))),
    ]);
    const api = async <T>(method: string, path: string, token = live.adminToken, body?: unknown) => {
      const response = await fetch(live.url + path, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: response.status, body: (await response.json()) as T };
    };

    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.goto(live.dashboardUrl);
      await page.waitForSelector('#token');
      await shoot(page, 'signin');
      await signIn(page, live, live.adminToken, 'admin');

      // Runs list (live): the demo's run is there, waiting for its start, no round done of 1 SSL +
      // 1 fine-tune + the final evaluation.
      await page.waitForSelector(`tr[data-run="${live.runId}"] .state-created`);
      const progress = page.locator(`tr[data-run="${live.runId}"] td.progress`);
      expect([await progress.getAttribute('data-done'), await progress.getAttribute('data-planned')]).toEqual(
        ['0', '3'],
      );
      // Keyboard: Tab alone reaches every control of the page, in reading order.
      const reached: string[] = [];
      for (let i = 0; i < 9; i++) {
        await page.keyboard.press('Tab');
        reached.push(await page.evaluate('document.activeElement.textContent.trim()'));
      }
      expect(reached).toEqual([
        'Skip to content',
        'Runs',
        'Sites',
        'Audit',
        'Sign out',
        'phcc-fed demo',
        'Start',
        'Stop',
        'Create a run from a plan',
      ]);
      // The plan editor shows the API's field problems beside their lines.
      await page.click('details.create summary');
      await page.fill('#plan', BAD_PLAN);
      await page.click('details.create button[type=submit]');
      await page.waitForSelector('#plan-problems li');
      const problems = await page.locator('#plan-problems li').allTextContents();
      expect(problems.join('\n')).toMatch(/line 6 quorum\.minSites: /);
      expect(await page.locator('.editor .gutter .bad').allTextContents()).toContain('6');
      await shoot(page, 'runs');

      // The run page, live: the run starts and completes in front of us, with no reload.
      await page.click(`tr[data-run="${live.runId}"] a`);
      await page.waitForSelector('.title-row .live-live');
      expect(await page.textContent('.title-row .state')).toBe('created');
      // Records every state the page shows from here on (a string: this file has no DOM types).
      await page.evaluate(`(() => {
        const seen = (window.seenStates = []);
        new MutationObserver(() => {
          const state = document.querySelector('.title-row .state')?.textContent;
          if (state && seen[seen.length - 1] !== state) seen.push(state);
        }).observe(document.body, { subtree: true, childList: true, characterData: true });
      })()`);
      watching.resolve();
      await page.waitForSelector('.title-row .state-completed', { timeout: 200_000 });
      const seenStates = await page.evaluate('window.seenStates');
      expect(seenStates).toEqual(['running', 'completed']);
      await finished.promise;
      await page.waitForSelector('table.site-auc');
      expect(await page.locator('table.timeline tbody tr').count()).toBeGreaterThanOrEqual(3);
      // Each cross-site round says whose local model it scored.
      await page.waitForSelector(
        `table.timeline th:text("cross-site evaluation of ${live.siteIds[1]}'s model")`,
      );
      expect(await page.textContent('.card-value >> nth=0')).toBe('3 / 3 rounds');

      const results = (await api<Results>('GET', `/runs/${live.runId}/results`)).body;
      const final = results.evaluation.final!;
      expect(Object.keys(final.sites)).toEqual(live.siteIds);
      for (const site of live.siteIds) {
        const shown = await page.getAttribute(
          `table.site-auc tr[data-site="${site}"] td[data-auc]`,
          'data-auc',
        );
        expect(Number(shown)).toBe(final.sites[site].auc);
        const text = await page.textContent(`table.site-auc tr[data-site="${site}"] td[data-auc]`);
        expect(text).toBe(final.sites[site].auc!.toFixed(3));
      }
      expect(await page.textContent('[data-testid=pooled-auc]')).toBe(final.pooledAuc!.toFixed(3));
      expect(await page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(2);

      // The cross-site matrix: opened, every cell equal to the API's.
      await page.click('details.cross-site summary');
      const matrix = results.evaluation.crossSite!.matrix;
      for (const [owner, row] of Object.entries(matrix)) {
        for (const [at, score] of Object.entries(row)) {
          const cell = page.locator(`td[data-cell="${owner}/${at}"]`);
          await expect(cell.isVisible()).resolves.toBe(true);
          expect(await cell.textContent()).toBe(score.auc === null ? 'n/a' : score.auc.toFixed(3));
        }
      }
      await shoot(page, 'run', true);
      // 1280 px wide with everything on it: nothing scrolls sideways.
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(1280);

      // The downloadable report: Markdown with the same AUCs.
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click('button:text("Download report (Markdown)")'),
      ]);
      expect(download.suggestedFilename()).toBe(`${live.runId}-report.md`);
      const report = readFileSync((await download.path())!, 'utf8');
      for (const site of live.siteIds) {
        expect(report).toContain(`| ${site} | ${final.sites[site].auc!.toFixed(3)} |`);
      }
      expect(report).toContain(`Pooled AUC ${final.pooledAuc!.toFixed(3)}`);

      // A printout: no buttons or navigation, and the cross-site matrix even when folded away.
      await page.click('details.cross-site summary');
      await expect(
        page.locator(`td[data-cell="${live.siteIds[0]}/${live.siteIds[0]}"]`).isVisible(),
      ).resolves.toBe(false);
      await page.emulateMedia({ media: 'print' });
      await expect(
        page.locator(`td[data-cell="${live.siteIds[0]}/${live.siteIds[0]}"]`).isVisible(),
      ).resolves.toBe(true);
      expect(await page.locator('nav').isVisible()).toBe(false);
      expect(await page.getByText('Download report (Markdown)').isVisible()).toBe(false);
      await page.emulateMedia({ media: 'screen' });

      // Sites as admin: revoke site-b with the typed confirmation.
      await page.click('nav a[href="#/sites"]');
      await page.waitForSelector('tr[data-site="site-b"]');
      // What each agent reported: version, backend, and (the demo's synthetic sites opt in) cohort counts.
      expect(await page.textContent('tr[data-site="site-a"] td.agent')).toMatch(
        /^v\d+\.\d+\.\d+ · wasm · \d+ train · \d+ val · \d+ test \(\d+ labelled\)$/,
      );
      // The dialog takes the keyboard's focus and Escape leaves it.
      await page.click('tr[data-site="site-b"] button.danger');
      // Preact renders the dialog asynchronously after the click: wait for it (bounded), then check focus.
      await page.waitForSelector('#revoke-reason');
      await page
        .waitForFunction("document.activeElement?.id === 'revoke-reason'", undefined, { timeout: 5000 })
        .catch(() => undefined);
      expect(await page.evaluate('document.activeElement.id')).toBe('revoke-reason');
      await page.keyboard.press('Escape');
      await page.waitForSelector('.dialog', { state: 'detached' });
      await page.click('tr[data-site="site-b"] button.danger');
      await page.fill('#revoke-reason', 'key rotated after the e2e test');
      const revoke = page.locator('.dialog button[type=submit]');
      expect(await revoke.isDisabled()).toBe(true);
      await page.fill('#revoke-confirm', 'site-b');
      await revoke.click();
      await page.waitForSelector('tr[data-site="site-b"] .state-failed');
      await shoot(page, 'sites');
      expect((await api<{ revoked: boolean }>('GET', '/sites/site-b')).body.revoked).toBe(true);

      // Audit: the revocation is there, by this admin.
      await page.click('nav a[href="#/audit"]');
      await page.waitForSelector('table.audit tbody tr td.mono');
      await shoot(page, 'audit');
      await page.fill('input[name=action]', 'sites.revoke');
      await page.click('.filters button[type=submit]');
      await page.waitForSelector('table.audit td.mono:text("sites.revoke")');
      expect(await page.locator('table.audit tbody tr').count()).toBe(1);

      // An observer: sees the same pages without admin actions, and the API refuses its writes.
      const { body: issued } = await api<{ token: string }>('POST', '/auth/tokens', live.adminToken, {
        role: 'observer',
        label: 'e2e observer',
      });
      const observerContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const observer = await observerContext.newPage();
      await signIn(observer, live, issued.token, 'observer');
      await observer.waitForSelector(`tr[data-run="${live.runId}"]`);
      // No plan editor, no Actions column, no button in the runs table.
      expect(await observer.locator('details.create').count()).toBe(0);
      expect(await observer.locator('table.runs thead th').allTextContents()).not.toContain('Actions');
      expect(await observer.locator('table.runs button').count()).toBe(0);
      // The finished run's progress, on the list.
      expect(await observer.textContent(`tr[data-run="${live.runId}"] td.progress`)).toMatch(
        /^3 \/ 3 rounds/,
      );
      await observer.click('nav a[href="#/sites"]');
      await observer.waitForSelector('tr[data-site="site-a"]');
      expect(await observer.locator('tr[data-site="site-a"] button').count()).toBe(0);
      const refused = await observer.evaluate(async (token) => {
        const response = await fetch('/sites/site-a/revoke', {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ reason: 'an observer tries' }),
        });
        return { status: response.status, body: (await response.json()) as { message: string } };
      }, issued.token);
      expect(refused.status).toBe(403);
      expect(refused.body.message).toMatch(/observer tokens are read-only/);
      expect((await api<{ revoked: boolean }>('GET', '/sites/site-a')).body.revoked).toBe(false);
      await observerContext.close();
      await context.close();
    } finally {
      watching.resolve();
      checked.resolve();
    }
    const { report } = await demo;
    expect(report.state).toBe('completed');
  });
});
