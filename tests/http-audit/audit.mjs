// Runs the GraphQL over HTTP spec's own audits (graphql-http's auditServer) against a server.
//
//   node audit.mjs http://127.0.0.1:8080/graphql
//
// Prints one line per audit, the failures in full and `audits: X of Y ok`; exits 1 when any audit is not ok
// (MUST failures are errors, SHOULD failures warnings, MAY failures notices: all count).
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql endpoint URL>');
  process.exit(2);
}

const results = await auditServer({ url });
const failed = [];
for (const result of results) {
  console.log(`${result.status.padEnd(6)} ${result.id} ${result.name}`);
  if (result.status !== 'ok') failed.push(result);
}
for (const result of failed) {
  let body = '';
  try {
    body = await result.response.text();
  } catch {
    body = '(body already read)';
  }
  console.log(`\n${result.status.toUpperCase()} ${result.id} ${result.name}\n  reason: ${result.reason}\n  response: ${result.response.status} ${result.response.headers.get('content-type')}\n  body: ${body}`);
}
console.log(`\naudits: ${results.length - failed.length} of ${results.length} ok`);
if (failed.length > 0) process.exitCode = 1;
