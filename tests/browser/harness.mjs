// A headless browser for the system tests: Playwright (playwright-core, which never downloads a
// browser) driving Debian's chromium. Every request that would leave this machine is blocked
// twice over (the browser resolves no host name but localhost, and Playwright aborts any request
// to another host) and recorded, so a test can assert that none was even attempted.
//
//   import { openBrowser } from './harness.mjs';
//   const b = await openBrowser();            // KANJIAN_CHROMIUM or /usr/bin/chromium
//   const page = await b.newPage();
//   ... drive the page ...
//   b.assertNothingLeftTheMachine();         // throws, listing what was attempted
//   await b.close();
import { chromium } from 'playwright-core';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export function isLocal(url) {
  try {
    const u = new URL(url);
    if (u.protocol === 'data:' || u.protocol === 'blob:' || u.protocol === 'about:') return true;
    return LOCAL_HOSTS.has(u.hostname);
  } catch {
    return false;
  }
}

export async function openBrowser({ executablePath = process.env.KANJIAN_CHROMIUM || '/usr/bin/chromium' } = {}) {
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      // Root in a container has no user namespace for chromium's sandbox.
      '--no-sandbox',
      // No name resolves but localhost: nothing can leave the machine, whatever asks.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
      '--no-proxy-server',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-domain-reliability',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const context = await browser.newContext();
  const offMachine = [];
  const consoleErrors = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    offMachine.push(url);
    return route.abort('blockedbyclient');
  });
  context.on('request', (request) => {
    if (!isLocal(request.url()) && !offMachine.includes(request.url())) offMachine.push(request.url());
  });
  // Content-Security-Policy violations, collected in the page.
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`);
    });
  });

  return {
    browser,
    context,
    offMachine,
    consoleErrors,
    async newPage() {
      const page = await context.newPage();
      page.on('websocket', (ws) => {
        if (!isLocal(ws.url())) offMachine.push(ws.url());
      });
      page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(message.text());
      });
      page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
      return page;
    },
    async cspViolations(page) {
      return page.evaluate(() => window.__cspViolations);
    },
    assertNothingLeftTheMachine() {
      if (offMachine.length > 0) {
        throw new Error(`requests to other machines were attempted:\n  ${offMachine.join('\n  ')}`);
      }
    },
    async close() {
      await browser.close();
    },
  };
}

// Runs `body`, printing `ok <name>` or the failure; the process exits non-zero on failure.
export async function run(name, body) {
  const started = Date.now();
  try {
    await body();
    console.log(`ok ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    console.error(`FAILED ${name}: ${error && error.stack ? error.stack : error}`);
    process.exitCode = 1;
  }
}
