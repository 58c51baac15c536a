// A stock graphql-ws client (no Kanjian code) subscribes to videoProcessing and prints the
// first update it receives as one JSON line, then completes the subscription and exits.
//
//   node subscribe.mjs ws://127.0.0.1:8080/graphql <token> <video id>
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, videoId] = process.argv.slice(2);
if (!url || !token || !videoId) {
  console.error('usage: node subscribe.mjs <ws URL> <token> <video id>');
  process.exit(2);
}

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  retryAttempts: 0,
});

const query = 'subscription($id: ID!) { videoProcessing(videoId: $id) { videoId status progressPercent } }';
const subscription = client.iterate({ query, variables: { id: videoId } });
const timer = setTimeout(() => {
  console.error('no update within 20 s');
  process.exit(1);
}, 20_000);
try {
  for await (const result of subscription) {
    console.log(JSON.stringify(result));
    break; // leaving the loop completes the subscription
  }
} finally {
  clearTimeout(timer);
  await client.dispose();
}
