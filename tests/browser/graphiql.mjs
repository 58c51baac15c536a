// GraphiQL as a person sees it: the page renders its editors, a query typed in runs and its
// result shows, and (given a token and a video) a subscription runs over the WebSocket. Nothing
// may be fetched from another machine and the page's Content-Security-Policy must not have to
// block anything.
//
//   node graphiql.mjs http://127.0.0.1:8080 [token video-id] [screenshot.png]
import { openBrowser, run } from './harness.mjs';

const [base, token, videoId, screenshot] = process.argv.slice(2);
if (!base) {
  console.error('usage: node graphiql.mjs <base URL> [token video-id] [screenshot.png]');
  process.exit(2);
}

const b = await openBrowser();
const page = await b.newPage();

// The text of the CodeMirror editor under `selector`.
const editorText = (selector) =>
  page.evaluate((s) => document.querySelector(`${s} .CodeMirror`).CodeMirror.getValue(), selector);
const setEditor = (selector, text) =>
  page.evaluate(([s, t]) => document.querySelector(`${s} .CodeMirror`).CodeMirror.setValue(t), [selector, text]);

async function runAndRead(query, expect) {
  await setEditor('.graphiql-query-editor', query);
  // GraphiQL parses the editor's text a moment after it changes (debounced) and picks HTTP or
  // WebSocket from that parse: run only once it has seen the new text.
  await page.waitForTimeout(500);
  await page.click('.graphiql-execute-button');
  await page.waitForFunction(
    (text) => {
      const editor = document.querySelector('.graphiql-response .CodeMirror');
      return editor && editor.CodeMirror.getValue().includes(text);
    },
    expect,
    { timeout: 15_000 },
  );
  return JSON.parse(await editorText('.graphiql-response'));
}

await run('GraphiQL renders its editors', async () => {
  const response = await page.goto(`${base}/graphql`, { waitUntil: 'load' });
  if (response.status() !== 200) throw new Error(`GET /graphql answered ${response.status()}`);
  await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', { timeout: 15_000 });
  await page.waitForSelector('.graphiql-execute-button');
});

await run('a query typed into GraphiQL runs and its result shows', async () => {
  const result = await runAndRead('{ __typename viewer { id } }', '"__typename"');
  if (result.data?.__typename !== 'Query') throw new Error(`unexpected result ${JSON.stringify(result)}`);
});

await run('the schema is loaded for the documentation explorer', async () => {
  await page.click('[aria-label="Show Documentation Explorer"]');
  await page.waitForSelector('.graphiql-doc-explorer >> text=Query', { timeout: 15_000 });
});

if (token && videoId) {
  await run('a subscription in GraphiQL runs over the WebSocket with the token from the headers editor', async () => {
    await page.click('.graphiql-editor-tools button:has-text("Headers")');
    await setEditor('.graphiql-editor-tool .graphiql-editor:not(.hidden)', JSON.stringify({ Authorization: `Bearer ${token}` }));
    const result = await runAndRead(
      `subscription { videoProcessing(videoId: "${videoId}") { videoId status } }`,
      '"status"',
    );
    if (result.data?.videoProcessing?.videoId !== videoId) throw new Error(`unexpected result ${JSON.stringify(result)}`);
  });
}

await run('nothing left the machine and the policy blocked nothing', async () => {
  if (screenshot) await page.screenshot({ path: screenshot });
  b.assertNothingLeftTheMachine();
  const violations = await b.cspViolations(page);
  if (violations.length > 0) throw new Error(`Content-Security-Policy violations:\n  ${violations.join('\n  ')}`);
  const errors = b.consoleErrors.filter((e) => !e.includes('favicon'));
  if (errors.length > 0) throw new Error(`errors in the console:\n  ${errors.join('\n  ')}`);
});

await b.close();
