// Drives the dashboard in the system's headless Chromium (playwright-core, never a downloaded
// browser) against a live dashboard whose URL is in DASHBOARD_URL. Started by
// web/tests/browser.rs, which feeds it real decision events. Every check names what it saw.
//
//   DASHBOARD_URL   the page (http://127.0.0.1:PORT/)
//   JAEGER_URL      the Jaeger UI URL the dashboard was configured with
//   ARTIFACTS       where screenshots go
//   DOCS_SCREENSHOT if set, also write the 1280×800 screenshot there (docs/dashboard.png)
import assert from 'node:assert/strict';
import { mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.DASHBOARD_URL;
const jaeger = process.env.JAEGER_URL;
const artifacts = process.env.ARTIFACTS || 'artifacts';
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`not ok - ${name}\n  ${String(e.stack || e).split('\n').join('\n  ')}`);
  }
}

const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const errors = [];
page.on('pageerror', e => errors.push(String(e)));
page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
const rows = 'table.decisions tbody tr[data-id]';
const rowTexts = () => page.$$eval(rows, trs => trs.map(t => t.innerText.replace(/\s+/g, ' ')));

await check('rows appear with policy names and a default deny\'s isolating policies', async () => {
  await page.goto(base);
  await page.waitForSelector(rows);
  await page.waitForFunction(s => document.querySelectorAll(s).length >= 6, rows);
  const texts = await rowTexts();
  assert.ok(texts.some(t => t.includes('ALLOW') && t.includes('backend/allow-web ingress rule 0')), texts.join('\n'));
  assert.ok(texts.some(t => t.includes('DENY') && t.includes('isolated by backend/allow-web, backend/default-deny')), texts.join('\n'));
  assert.ok(texts.some(t => t.includes('anp/block-metadata egress rule 0 "no-metadata"')), texts.join('\n'));
  assert.ok(texts.some(t => t.includes('frontend/web-7d4b9c8f6-x2k9p') && t.includes('10.0.2.10:8080')), texts.join('\n'));
});

await check('the deny filter applies and a reload keeps it (the URL)', async () => {
  await page.selectOption('select[name=action]', 'deny');
  await page.waitForFunction(() => location.search.includes('action=deny'));
  await page.waitForFunction(s => {
    const r = [...document.querySelectorAll(s)];
    return r.length > 0 && r.every(t => t.classList.contains('deny'));
  }, rows);
  await page.reload();
  await page.waitForSelector(rows);
  assert.equal(await page.$eval('select[name=action]', s => s.value), 'deny');
  const classes = await page.$$eval(rows, trs => trs.map(t => t.className));
  assert.ok(classes.length > 0 && classes.every(c => c.includes('deny')), classes.join(','));
});

await check('pause stops new rows and resume brings the buffered count', async () => {
  await page.goto(base);
  await page.waitForSelector(rows);
  await page.waitForSelector('.status.live');
  await page.click('button.pause');
  const before = await page.$$eval(rows, r => r.length);
  await page.waitForFunction(() => /Resume \(([1-9]\d*) new\)/.test(document.querySelector('button.pause').innerText), null, { timeout: 10000 });
  await page.waitForTimeout(600);
  const label = await page.$eval('button.pause', b => b.innerText);
  const buffered = Number(label.match(/\((\d+) new\)/)[1]);
  assert.equal(await page.$$eval(rows, r => r.length), before, 'no new rows while paused');
  await page.click('button.pause');
  await page.waitForFunction(([s, n]) => document.querySelectorAll(s).length >= n, [rows, before + buffered]);
  assert.match(await page.$eval('button.pause', b => b.innerText), /Pause/);
});

await check('the keyboard opens a row; the detail panel explains it and links its trace in Jaeger', async () => {
  const deny = await page.$$(`${rows}.deny`);
  let target = null;
  for (const r of deny) if ((await r.innerText()).includes('isolated by backend/allow-web')) { target = r; break; }
  assert.ok(target, 'a default-deny row');
  await target.focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('aside.detail');
  const id = await target.getAttribute('data-id');
  const events = (await (await fetch(new URL(`api/decisions?limit=10000`, base))).json()).events;
  const event = events.find(e => e.id === id);
  assert.ok(event, `event ${id} from the API`);
  const explanation = await page.$eval('aside.detail .explanation', p => p.innerText);
  assert.equal(explanation, event.explanation);
  assert.match(explanation, /isolated by backend\/allow-web \(NetworkPolicy\) and backend\/default-deny \(NetworkPolicy\)/);
  const href = await page.$eval('aside.detail a.trace-link', a => a.getAttribute('href'));
  assert.equal(href, `${jaeger}/trace/${event.trace_id}`);
  assert.match(event.trace_id, /^[0-9a-f]{32}$/);
  const search = await page.$eval('aside.detail a.search-link', a => a.getAttribute('href'));
  assert.ok(search.startsWith(`${jaeger}/search?service=verdict-agent&tags=`), search);
  assert.equal(JSON.parse(decodeURIComponent(search.split('tags=')[1]))['verdict.action'], 'deny');
});

await check('the what-if answers "denied" for a port the policy does not allow', async () => {
  await page.keyboard.press('Escape');
  await page.waitForSelector('aside.detail', { state: 'detached' });
  const allowed = await page.$$(`${rows}.allow`);
  let target = null;
  for (const r of allowed) if ((await r.innerText()).includes('10.0.2.10:8080')) { target = r; break; }
  assert.ok(target, 'an allowed web → api:8080 row');
  await target.click();
  await page.waitForSelector('aside.detail form.whatif');
  assert.equal(await page.$eval('form.whatif input[name=from]', i => i.value), 'frontend/web-7d4b9c8f6-x2k9p');
  assert.equal(await page.$eval('form.whatif input[name=to]', i => i.value), 'backend/api-0');
  assert.equal(await page.$eval('form.whatif input[name=port]', i => i.value), '8080');
  await page.fill('form.whatif input[name=port]', '9999');
  await page.click('form.whatif button[type=submit]');
  await page.waitForSelector('form.whatif .answer');
  const answer = await page.$eval('form.whatif .answer', a => a.innerText);
  assert.match(answer, /would be denied/);
  assert.match(answer, /TCP\/9999: DENY\. ingress: backend\/api-0 is isolated by backend\/allow-web/);
});

await page.evaluate(() => { scrollTo(0, 0); document.querySelector('aside.detail').scrollTop = 1e6; });
assert.equal(await page.evaluate(() => document.documentElement.scrollHeight <= innerHeight + 1), true,
  'the decisions view fits 1280×800 without scrolling the page');
await page.screenshot({ path: join(artifacts, 'dashboard-1280x800.png') });
if (process.env.DOCS_SCREENSHOT) copyFileSync(join(artifacts, 'dashboard-1280x800.png'), process.env.DOCS_SCREENSHOT);

await check('the map shows the edge, and clicking it filters the table to it', async () => {
  await page.click('button[role=tab]:has-text("Map")');
  await page.waitForFunction(() => window.__verdictMap && window.__verdictMap.edges().length > 0);
  await page.waitForTimeout(300);
  const point = await page.evaluate(() => {
    const cy = window.__verdictMap;
    const edge = cy.edges().filter(e => e.data('source') === 'frontend/web' && e.data('target') === 'backend/api' && e.data('edge').port === 8080)[0];
    if (!edge) return null;
    // A point on the drawn (bezier) edge, 30% of the way from its source (its label sits
    // mid-way; parallel edges curve apart).
    const s = edge.sourceEndpoint(), e = edge.targetEndpoint();
    const c = (edge.controlPoints() || [])[0] || { x: (s.x + e.x) / 2, y: (s.y + e.y) / 2 };
    const t = 0.3;
    const p = {
      x: (1 - t) ** 2 * s.x + 2 * (1 - t) * t * c.x + t ** 2 * e.x,
      y: (1 - t) ** 2 * s.y + 2 * (1 - t) * t * c.y + t ** 2 * e.y,
    };
    const pan = cy.pan(), zoom = cy.zoom();
    const box = cy.container().getBoundingClientRect();
    return { x: box.left + p.x * zoom + pan.x, y: box.top + p.y * zoom + pan.y, label: edge.data('label') };
  });
  assert.ok(point, 'the frontend/web → backend/api TCP/8080 edge is on the map');
  assert.match(point.label, /TCP\/8080 ✓\d+ ✕0/);
  await page.screenshot({ path: join(artifacts, 'map-1280x800.png') });
  await page.mouse.click(point.x, point.y);
  await page.waitForFunction(() => location.search.includes('src=frontend%2Fweb') || location.search.includes('src=frontend/web'));
  await page.waitForSelector(rows);
  const texts = await rowTexts();
  assert.ok(texts.length > 0 && texts.every(t => t.includes('frontend/web-') && t.includes('10.0.2.10:8080')), texts.join('\n'));
});

await check('the policies view flags a never-hit rule', async () => {
  await page.click('button[role=tab]:has-text("Policies")');
  await page.waitForSelector('article.policy-card');
  const card = page.locator('article.policy-card', { hasText: 'backend/allow-web' });
  const never = await card.locator('li.rule.never').allInnerTexts();
  assert.equal(never.length, 1, never.join('\n'));
  assert.match(never[0], /ingress rule 1 \(allow\): 0 hits, last never\s+never hit/);
  const hit = await card.locator('li.rule:not(.never)').allInnerTexts();
  assert.match(hit[0], /ingress rule 0 \(allow\): \d+ hits/);
  await page.screenshot({ path: join(artifacts, 'policies-1280x800.png'), fullPage: true });
});

await check('a narrow window keeps the table and the detail usable', async () => {
  const narrow = await browser.newPage({ viewport: { width: 420, height: 860 } });
  await narrow.goto(base);
  await narrow.waitForSelector(rows);
  const first = await narrow.$(rows);
  await first.click();
  await narrow.waitForSelector('aside.detail');
  const width = await narrow.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 440, `no page-wide horizontal scroll (scrollWidth ${width})`);
  await narrow.screenshot({ path: join(artifacts, 'dashboard-narrow-detail.png') });
  await narrow.keyboard.press('Escape');
  await narrow.waitForSelector('aside.detail', { state: 'detached' });
  await narrow.screenshot({ path: join(artifacts, 'dashboard-narrow.png') });
  await narrow.close();
});

await check('no script errors', async () => {
  assert.deepEqual(errors, []);
});

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
