// Drives the web console in headless Chromium (tests/test_console.py).
//
// Usage: node console_e2e.mjs '<json config>'. Prints one JSON object per line:
//   {"kind":"step","name":...,...facts}  what the browser saw at each step (the test asserts on them)
//   {"kind":"ready"}                      the Live events view is subscribed: the test mails the inbox now
//   {"kind":"done","report":{...}}        console messages, page errors and foreign requests seen
//   {"kind":"error","message":...}        a step failed (exit code 1)
// Screenshots go to config.shots.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const config = JSON.parse(process.argv[2]);
const STEP_TIMEOUT = 15000;
const out = (kind, fields) => process.stdout.write(`${JSON.stringify({ kind, ...fields })}\n`);
const step = (name, facts = {}) => out('step', { name, ...facts });

const report = { console: [], pageErrors: [], foreignRequests: [], foreignResponses: [], failedRequests: [] };

async function shot(page, name) {
  const file = path.join(config.shots, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

async function main() {
  const profile = fs.mkdtempSync(path.join(config.profileRoot, 'chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: config.chromium || '/usr/bin/chromium',
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 860 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    const origin = new URL(config.baseUrl).origin;
    page.on('console', (msg) => report.console.push({ type: msg.type(), text: msg.text() }));
    page.on('pageerror', (err) => report.pageErrors.push(String(err && err.stack ? err.stack : err)));
    const foreign = (url) => !url.startsWith(origin) && !url.startsWith('data:') && !url.startsWith('about:');
    // Chromium announces a request CSP then blocks: what counts is whether an answer came back.
    context.on('request', (request) => { if (foreign(request.url())) report.foreignRequests.push(request.url()); });
    context.on('response', (resp) => { if (foreign(resp.url())) report.foreignResponses.push(resp.url()); });
    context.on('requestfailed', (request) => {
      report.failedRequests.push({ url: request.url(), failure: request.failure()?.errorText });
    });
    await run(page, origin);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function run(page, origin) {
  // --- sign in ------------------------------------------------------------------------------------
  const response = await page.goto(`${config.baseUrl}/console`);
  await page.waitForSelector('#sign-in');
  step('signin-form', { url: page.url(), status: response.status(), csp: response.headers()['content-security-policy'] });
  await page.fill('#api-key', 'am_us_not-a-real-key');
  await page.click('#sign-in button[type=submit]');
  const refused = await page.locator('#sign-in .notice.error').textContent();
  await shot(page, '01-signin');
  await page.fill('#api-key', config.apiKey);
  await page.click('#sign-in button[type=submit]');
  await page.waitForSelector('#whoami:not([hidden])');
  const stored = await page.evaluate(() => sessionStorage.getItem('agentmail-console.api-key'));
  step('signed-in', {
    refused, identity: await page.textContent('#identity'), keyStored: stored === config.apiKey,
    hash: await page.evaluate(() => location.hash),
  });

  // --- pods → inbox → thread → message --------------------------------------------------------
  await page.waitForSelector('h1:has-text("Pods")');
  await page.click(`tr:has-text("${config.podId}")`);
  await page.waitForSelector(`tr:has-text("${config.inboxId}")`);
  step('pod', { heading: await page.textContent('h1') });
  await page.click(`tr:has-text("${config.inboxId}")`);
  await page.waitForSelector(`tr:has-text("${config.threadSubject}")`);
  step('inbox', { heading: await page.textContent('h1'), threads: await page.locator('tbody tr').count() });
  await page.click(`tr:has-text("${config.threadSubject}")`);
  const frameEl = await page.waitForSelector('iframe.mail-html');
  const frame = await frameEl.contentFrame();
  await frame.waitForSelector('#styled');
  // Give a script (none should run) and the remote image (none should load) their chance.
  await page.waitForTimeout(500);
  const inside = await frame.evaluate(() => {
    const styled = document.getElementById('styled');
    const inline = document.getElementById('inline');
    const img = document.getElementById('remote');
    return {
      title: document.title,
      pwned: document.body.getAttribute('data-pwned'),
      scriptPresent: document.querySelectorAll('script').length,
      styledColor: styled ? getComputedStyle(styled).color : null,
      inlineColor: inline ? getComputedStyle(inline).color : null,
      imgLoaded: img ? img.complete && img.naturalWidth > 0 : null,
      text: document.body.innerText.slice(0, 200),
    };
  });
  const outside = await page.evaluate(() => {
    const el = document.querySelector('iframe.mail-html');
    return {
      title: document.title, pwned: window.pwned === undefined ? null : String(window.pwned),
      sandbox: el.getAttribute('sandbox'), hasSrc: el.hasAttribute('src'), srcdoc: el.srcdoc,
    };
  });
  step('message', { frame: inside, page: outside, heading: await page.textContent('h1') });
  await shot(page, '02-message');

  await page.click('.tabs button:has-text("Text")');
  const text = await page.textContent('pre.mail-text');
  step('text-view', { text });

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click(`button.download:has-text("${config.attachmentName}")`),
  ]);
  const file = await download.path();
  const bytes = fs.readFileSync(file);
  step('download', {
    filename: download.suggestedFilename(), size: bytes.length,
    sha256: crypto.createHash('sha256').update(bytes).digest('hex'), sameOrigin: download.url().startsWith(origin),
    keyInUrl: download.url().includes(config.apiKey),
  });

  // --- create an inbox ----------------------------------------------------------------------------
  await page.click('.crumbs a:has-text("Pods")');
  await page.click(`tr:has-text("${config.podId}")`);
  await page.fill('#create-inbox input[name=username]', config.newInbox);
  await page.click('#create-inbox button[type=submit]');
  const created = await page.textContent('#create-inbox .created-inbox');
  step('inbox-created', { email: created });

  // --- create an API key --------------------------------------------------------------------------
  await page.click('#nav a[data-tab=keys]');
  await page.waitForSelector('h1:has-text("API keys")');
  await page.fill('#create-key input[name=name]', config.newKey);
  await page.click('#create-key button[type=submit]');
  await page.waitForSelector('#new-key-secret');
  await page.waitForSelector(`tbody tr:has-text("${config.newKey}")`);
  step('key-created', {
    secret: await page.inputValue('#new-key-secret'), notice: await page.textContent('.secret-box'),
  });
  await shot(page, '03-api-key');

  // --- a webhook's deliveries and attempts --------------------------------------------------------
  await page.click('#nav a[data-tab=webhooks]');
  await page.click(`tr:has-text("${config.webhookUrl}")`);
  await page.waitForSelector('tr.delivery');
  const deliveries = await page.locator('tr.delivery').allInnerTexts();
  await page.locator('tr.delivery').first().click();
  await page.waitForSelector('tr.attempts-row tr.attempt');
  const attempts = await page.locator('tr.attempts-row tr.attempt').allInnerTexts();
  step('deliveries', { deliveries, attempts, heading: await page.textContent('h1') });
  await shot(page, '04-deliveries');

  // --- live events --------------------------------------------------------------------------------
  await page.click('#nav a[data-tab=events]');
  await page.waitForFunction(() => /subscribed/.test(document.getElementById('events-status')?.textContent || ''));
  out('ready', {});
  const row = page.locator(`tr.event:has-text("${config.liveSubject}")`);
  await row.waitFor({ timeout: 25000 });
  step('live-event', {
    row: await row.innerText(), status: await page.textContent('#events-status'),
    types: await page.locator('tr.event').evaluateAll((rows) => rows.map((r) => r.dataset.eventType)),
  });
  await shot(page, '05-events');

  // --- sign out -------------------------------------------------------------------------------------
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in');
  step('signed-out', {
    keyStored: await page.evaluate(() => sessionStorage.getItem('agentmail-console.api-key')),
    navHidden: await page.evaluate(() => document.getElementById('nav').hidden),
  });
}

main().then(
  () => { out('done', { report }); process.exit(0); },
  (err) => { out('error', { message: String(err && err.stack ? err.stack : err), report }); process.exit(1); },
);
