// End-to-end run of the web UI in a real browser (Debian's chromium, driven by playwright-core)
// against a platform the caller started. Started by tests/e2e/test_webui.py; standalone:
//
//   WITNESS_URL=http://127.0.0.1:8000 WITNESS_USER=admin WITNESS_PASSWORD=… WITNESS_CAMERA=site.cam \
//   WITNESS_ALERT=<alert id> WITNESS_CLIP=/tmp/clip.mp4 node e2e/run.mjs
//
// Steps: log in; see live tracks on the camera grid; upload a clip and watch the job finish; play it back
// with its tracks; open the store's analytics and make a report; open the
// alert, dismiss it with a reason and see it in the history and audit trail; draw a zone and see it
// applied (the API lists it, the camera's config version moves); ring up and void a POS sale; visit
// every page. A screenshot of
// every page goes to WITNESS_SCREENSHOTS (default e2e/screenshots). Fails on any console error,
// uncaught page error, failed request, or an interactive control without an accessible name.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`set ${name}`);
  return value;
};
const BASE = env('WITNESS_URL').replace(/\/$/, '');
const USER = env('WITNESS_USER', 'admin');
const PASSWORD = env('WITNESS_PASSWORD');
const CAMERA = env('WITNESS_CAMERA');
const ALERT = env('WITNESS_ALERT');
const CLIP = env('WITNESS_CLIP');
const SHOTS = resolve(env('WITNESS_SCREENSHOTS', 'e2e/screenshots'));
const CHROMIUM = env('CHROMIUM_PATH', '/usr/bin/chromium');
const JOB_TIMEOUT_MS = Number(env('WITNESS_JOB_TIMEOUT_S', '150')) * 1000;
const REASON = 'e2e: staff member restocking, not a shopper';

mkdirSync(SHOTS, { recursive: true });
const problems = [];
const log = (...args) => console.log(`[e2e ${new Date().toISOString().slice(11, 19)}]`, ...args);

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, colorScheme: 'dark' });
const page = await context.newPage();
page.setDefaultTimeout(30_000);
page.on('console', (m) => {
  if (m.type() === 'error') problems.push(`console error on ${page.url()}: ${m.text()}`);
});
page.on('pageerror', (e) => problems.push(`uncaught error on ${page.url()}: ${e.message}`));
page.on('response', (r) => {
  if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
});

async function shot(name) {
  await page.waitForTimeout(300); // let charts and toasts settle
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Every visible interactive element must have an accessible name (WCAG 4.1.2). */
async function checkLabels(where) {
  const unlabelled = await page.evaluate(() => {
    const selector = 'button, a[href], input:not([type=hidden]), select, textarea, [role=button], [role=tab], [role=checkbox], [role=switch], [role=radio], [tabindex]:not([tabindex="-1"])';
    const nameOf = (el) => {
      const aria = el.getAttribute('aria-label');
      if (aria && aria.trim()) return aria;
      const by = el.getAttribute('aria-labelledby');
      if (by) {
        const text = by.split(/\s+/).map((id) => document.getElementById(id)?.textContent ?? '').join(' ').trim();
        if (text) return text;
      }
      if (el.labels && el.labels.length) {
        const text = [...el.labels].map((l) => l.textContent ?? '').join(' ').trim();
        if (text) return text;
      }
      if (el.id) {
        const label = document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
        if (label?.textContent?.trim()) return label.textContent;
      }
      const text = (el.textContent ?? '').trim();
      if (text) return text;
      return el.getAttribute('title') || el.getAttribute('alt') || el.getAttribute('placeholder') || '';
    };
    return [...document.querySelectorAll(selector)]
      .filter((el) => {
        const r = el.getBoundingClientRect();
        const style = getComputedStyle(el);
        return r.width > 0 && r.height > 0 && style.visibility !== 'hidden' && style.display !== 'none';
      })
      .filter((el) => !nameOf(el).trim())
      .map((el) => el.outerHTML.slice(0, 160));
  });
  for (const html of unlabelled) problems.push(`unlabelled control on ${where}: ${html}`);
}

/** Tab through the page: focus must move onto several distinct controls (keyboard navigation). */
async function checkKeyboard(where, presses = 8) {
  await page.locator('body').click({ position: { x: 1, y: 1 } }).catch(() => undefined);
  const seen = new Set();
  for (let i = 0; i < presses; i += 1) {
    await page.keyboard.press('Tab');
    seen.add(await page.evaluate(() => {
      const el = document.activeElement;
      return el && el !== document.body ? `${el.tagName}|${el.getAttribute('aria-label') ?? el.textContent?.slice(0, 30) ?? ''}|${el.id}` : '';
    }));
  }
  seen.delete('');
  if (seen.size < 3) problems.push(`keyboard: Tab reached only ${seen.size} controls on ${where}`);
}

async function visit(path, heading, name) {
  await page.goto(`${BASE}${path}`);
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  await checkLabels(path);
  await shot(name);
}

async function api(path, init = {}) {
  return page.evaluate(async ({ path, init }) => {
    const tokens = JSON.parse(localStorage.getItem('witness.tokens') ?? 'null');
    const r = await fetch(path, { ...init, headers: { Authorization: `Bearer ${tokens?.access_token}`, ...(init.headers ?? {}) } });
    return { status: r.status, body: await r.json() };
  }, { path, init });
}

async function step(name, fn) {
  const t0 = Date.now();
  log(`${name} …`);
  try {
    await fn();
    log(`${name} ok (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (err) {
    await page.screenshot({ path: join(SHOTS, `failed-${name.replace(/\W+/g, '-')}.png`), fullPage: true }).catch(() => undefined);
    throw new Error(`step "${name}" failed: ${err.message}`);
  }
}

try {
  await step('log in', async () => {
    await page.goto(`${BASE}/`);
    await page.waitForURL(/\/login$/);
    await checkLabels('/login');
    await checkKeyboard('/login', 4);
    await shot('01-login');
    await page.locator('input[name=username]').fill(USER);
    await page.locator('input[name=password]').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    await page.locator('[data-testid=socket-state][data-state=open]').waitFor({ timeout: 20_000 });
    await page.locator('[data-testid=stat-events]').waitFor();
    await checkLabels('/');
    await checkKeyboard('/');
    await shot('02-dashboard-dark');
  });

  await step('see live tracks on the camera grid', async () => {
    await page.getByRole('link', { name: 'Live' }).click();
    await page.getByRole('heading', { level: 1, name: 'Live' }).waitFor();
    const tile = page.locator(`[data-testid=camera-tile][data-camera-id="${CAMERA}"]`);
    await tile.waitFor();
    await tile.locator('img').waitFor({ timeout: 60_000 });
    await page.waitForFunction((camera) => {
      const overlay = document.querySelector(`[data-camera-id="${camera}"] [data-testid=track-overlay]`);
      return overlay && Number(overlay.getAttribute('data-track-count')) > 0 && overlay.querySelector('g[data-track-id] rect');
    }, CAMERA, { timeout: 90_000 });
    const limbs = await tile.locator('line[data-limb]').count();
    log(`  tracks drawn, ${limbs} skeleton limbs`);
    if (limbs === 0) throw new Error('no skeleton drawn on any tracked person');
    await shot('03-live-grid');
    // people come and go at 3 analysed fps: click one the moment it is on screen
    await page.waitForFunction((camera) => {
      const person = document.querySelector(`[data-camera-id="${camera}"] g[data-track-id]`);
      person?.dispatchEvent(new MouseEvent('click', { bubbles: true }));
      return !!person;
    }, CAMERA, { timeout: 60_000, polling: 200 });
    await page.locator('[data-testid=followed-panel]').waitFor();
    await tile.getByRole('button', { name: /^Enlarge/ }).click();
    await checkLabels('/live');
    await shot('04-live-enlarged-following');
    await page.keyboard.press('Escape');
  });

  await step('see people on the floor plan, open one and focus on them', async () => {
    await page.getByRole('link', { name: 'Map' }).click();
    await page.getByRole('heading', { level: 1, name: 'Map' }).waitFor();
    await page.locator('[data-testid=floor-map] polygon[data-fov]').first().waitFor({ timeout: 30_000 });
    // tracks get their global id a few analysed frames after they appear
    await page.locator('[data-testid=floor-map] g[data-person] circle').first().waitFor({ timeout: 120_000 });
    await checkLabels('/map');
    await shot('03b-map');
    await page.waitForFunction(() => {
      const dot = document.querySelector('[data-testid=floor-map] g[data-person] circle');
      dot?.dispatchEvent(new MouseEvent('click', { bubbles: true }));
      return !!dot;
    }, null, { timeout: 60_000, polling: 200 });
    const panel = page.locator('[data-testid=person-panel]');
    await panel.waitFor();
    await panel.locator('[data-testid=person-metrics]').waitFor({ timeout: 30_000 });
    await panel.getByRole('button', { name: 'Focus in every camera' }).click();
    await panel.getByRole('button', { name: 'Stop focus' }).waitFor();
    const focus = await api('/api/v1/tracking/focus');
    if (!focus.body.focused_person_id) throw new Error(`focus not stored: ${JSON.stringify(focus.body).slice(0, 200)}`);
    await checkLabels('/map (person panel)');
    await shot('03c-person-panel');
    await page.getByRole('link', { name: 'Live' }).click();
    await page.locator('[data-testid=focus-banner]').waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Clear focus' }).click();
    await page.locator('[data-testid=focus-banner]').waitFor({ state: 'hidden', timeout: 15_000 });
  });

  await step('upload a clip and watch the job finish', async () => {
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
    await page.locator('input[type=file][name=videos]').setInputFiles(CLIP);
    await page.getByLabel('Detection rate (fps)').fill('5');
    await page.getByLabel('Inference size (px)').fill('960');
    await checkLabels('/jobs');
    await shot('05-jobs-upload');
    await page.getByRole('button', { name: 'Upload and analyse' }).click();
    await page.waitForURL(/\/jobs\/[^/]+$/, { timeout: 60_000 });
    await page.locator('[data-testid=job-progress]').waitFor();
    await shot('06-job-running');
    await page.locator('[data-testid=job-progress][data-status=done]').waitFor({ timeout: JOB_TIMEOUT_MS });
    await page.locator('[data-testid=job-results] [data-testid=result-tracks]').waitFor();
    const tracks = await page.locator('[data-testid=result-tracks]').first().textContent();
    log(`  job done: ${tracks}`);
    if (!/^[1-9]\d* tracks/.test(tracks ?? '')) throw new Error(`the job found no track: "${tracks}"`);
    await checkLabels('/jobs/:id');
    await shot('07-job-done');
  });

  await step('play the analysed video with its tracks drawn in sync', async () => {
    await page.getByRole('link', { name: /^Play .* with its tracks$/ }).first().click();
    await page.waitForURL(/\/playback\/[^/]+$/);
    await page.getByRole('heading', { level: 1, name: /^Playback: / }).waitFor();
    await page.locator('[data-testid=playback-video][data-ready=yes]').waitFor({ timeout: 30_000 });
    // seek to each second until people are on screen: the overlay follows the frame shown
    await page.waitForFunction(() => {
      const v = document.querySelector('[data-testid=playback-video]');
      const overlay = document.querySelector('[data-testid=playback-overlay]');
      if (!v || !overlay) return false;
      if (Number(overlay.getAttribute('data-box-count')) > 0) return true;
      v.currentTime = (Math.floor(v.currentTime) + 1) % Math.max(1, Math.floor(v.duration));
      return false;
    }, null, { timeout: 30_000, polling: 500 });
    const frame = await page.getByTestId('playback-frame').textContent();
    log(`  overlay drawn: ${frame}`);
    await checkLabels('/playback/:id');
    await shot('07b-playback');
  });

  await step('analytics of the store: landing, charts, heatmap, report', async () => {
    await page.getByRole('link', { name: 'Analytics' }).click();
    await page.getByRole('heading', { level: 1, name: 'Analytics' }).waitFor();
    await page.locator('[data-environment]').first().waitFor();
    await checkLabels('/analytics');
    await shot('07c-analytics-landing');
    await page.getByTestId('open-analytics').click();
    await page.waitForURL(/\/analytics\/[^/?]+\?from=/);
    await page.getByRole('heading', { level: 1, name: /^Analytics: / }).waitFor();
    await page.locator('[data-testid=stat-people]').waitFor();
    const people = Number(await page.getByTestId('stat-people').textContent());
    if (!(people > 0)) throw new Error(`the analytics page counts no people (${people})`);
    await page.locator('[data-testid=occupancy-chart]').waitFor();
    await page.locator('[data-testid=camera-heatmap] img').first().waitFor();
    await checkLabels('/analytics/:site');
    await shot('07d-analytics');
    await page.getByRole('button', { name: 'Generate a report' }).click();
    await page.getByRole('menuitem', { name: 'Generate a JSON report' }).click();
    await page.getByTestId('report-saved').waitFor({ timeout: 60_000 });
    log(`  ${people} people; ${await page.getByTestId('report-saved').textContent()}`);
  });

  await step('dismiss an alert with a reason and see it in the history', async () => {
    await page.getByRole('link', { name: 'Alerts' }).click();
    await page.getByRole('heading', { level: 1, name: 'Alerts' }).waitFor();
    await page.locator(`[data-alert-id="${ALERT}"]`).waitFor();
    await checkLabels('/alerts');
    await shot('08-alerts-queue');
    await page.getByRole('link', { name: `Open alert ${ALERT}` }).click();
    await page.locator('[data-testid=score-breakdown]').waitFor();
    await page.locator('[data-testid=discrepancy-table]').waitFor();
    await page.locator('[data-testid=behaviour-timeline]').waitFor();
    await checkLabels('/alerts/:id');
    await shot('09-alert-detail');
    await page.getByRole('button', { name: 'Dismiss…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason').fill(REASON);
    await shot('10-alert-dismiss-dialog');
    await dialog.getByRole('button', { name: 'Dismiss alert' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.locator('[data-testid=alert-history]').getByText(REASON).waitFor();
    await page.locator('[data-testid=alert-history]').getByText(/dismiss: pending → dismissed by/).waitFor();
    await page.locator('[data-testid=alert-audit]').getByText('alert.dismiss').waitFor();
    const stored = await api(`/api/v1/alerts/${ALERT}`);
    if (stored.body.status !== 'dismissed' || stored.body.reason !== REASON) throw new Error(`alert not dismissed: ${JSON.stringify(stored.body).slice(0, 200)}`);
    await shot('11-alert-dismissed');
  });

  await step('draw a zone on a camera snapshot and see it applied', async () => {
    const before = await api(`/api/v1/cameras/${encodeURIComponent(CAMERA)}/status`);
    await page.goto(`${BASE}/cameras/${encodeURIComponent(CAMERA)}`);
    await page.getByRole('heading', { level: 1 }).first().waitFor();
    await page.getByAltText('Camera snapshot').waitFor({ timeout: 30_000 });
    const canvas = page.getByTestId('zone-canvas');
    const box = await canvas.boundingBox();
    const corners = [[0.1, 0.6], [0.4, 0.6], [0.4, 0.95], [0.1, 0.95]];
    for (const [x, y] of corners) await canvas.click({ position: { x: box.width * x, y: box.height * y } });
    await page.getByLabel('Zone name').fill('e2e-zone');
    await shot('12-zone-drawn');
    await page.getByRole('button', { name: 'Save zone' }).click();
    await page.locator('[data-zone-row="e2e-zone"]').waitFor();
    const zones = await api(`/api/v1/cameras/${encodeURIComponent(CAMERA)}/zones`);
    const polygon = zones.body['e2e-zone']?.polygon;
    if (!polygon || polygon.length !== 4) throw new Error(`zone not stored: ${JSON.stringify(zones.body).slice(0, 300)}`);
    polygon.forEach(([x, y], i) => {
      if (Math.abs(x - corners[i][0]) > 0.01 || Math.abs(y - corners[i][1]) > 0.01) throw new Error(`corner ${i} stored as ${x}, ${y}, drawn at ${corners[i]}`);
    });
    const after = await api(`/api/v1/cameras/${encodeURIComponent(CAMERA)}/status`);
    log(`  zone stored; camera config version ${before.body.config_version} → ${after.body.config_version}`);
    if (!(after.body.config_version > before.body.config_version)) throw new Error('the running camera did not take the new config');
    await page.locator('polygon[data-zone="e2e-zone"]').waitFor();
    const calibration = page.getByTestId('calibration-editor');
    await calibration.scrollIntoViewIfNeeded();
    await calibration.getByRole('button', { name: 'Check' }).click();
    await page.getByTestId('reprojection-error').waitFor({ timeout: 15_000 });
    await checkLabels('/cameras/:id');
    await shot('13-zone-applied');
  });

  await step('every other page renders', async () => {
    await visit('/events', 'Events', '14-events');
    await visit('/sites', 'Sites and cameras', '15-sites');
    await visit('/pos', 'POS simulator', '16-pos');
    await page.getByRole('button', { name: 'Start or resume session' }).click();
    await page.getByRole('button', { name: /^Scan .*\(CHOC001\)/ }).click();
    await page.getByTestId('cart').getByText('CHOC001').waitFor();
    await shot('16b-pos-cart');
    await page.getByRole('button', { name: 'Complete sale' }).click();
    await page.getByRole('button', { name: 'Start or resume session' }).waitFor();
    const sold = await api('/api/v1/pos/transactions?terminal_id=till-1&limit=1');
    if (sold.body.data?.[0]?.items?.[0]?.sku !== 'CHOC001') throw new Error(`sale not stored: ${JSON.stringify(sold.body).slice(0, 200)}`);
    await page.getByRole('button', { name: 'Start or resume session' }).click();
    await page.getByRole('button', { name: 'Void' }).click();
    await page.getByRole('button', { name: 'Start or resume session' }).waitFor();
    await visit('/training', 'Training', '17-training');
    await visit('/users', 'Users and roles', '18-users');
    await visit('/settings', 'Settings', '19-settings');
    await visit('/no/such/page', 'Page not found', '20-not-found');
    await page.getByRole('button', { name: /Switch to light theme/ }).click();
    await visit('/', 'Dashboard', '21-dashboard-light');
    await page.setViewportSize({ width: 820, height: 1180 }); // a tablet, portrait
    await visit('/live', 'Live', '22-live-tablet');
    await page.getByRole('button', { name: 'Toggle navigation' }).click();
    await shot('23-tablet-navigation');
  });

  await step('sign out', async () => {
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login$/);
  });
} catch (err) {
  problems.unshift(err.message);
} finally {
  await browser.close();
}

if (problems.length) {
  console.error(`e2e FAILED (${problems.length} problems):\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
log(`e2e passed; screenshots in ${SHOTS}`);
