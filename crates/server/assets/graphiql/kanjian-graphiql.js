// Kanjian's own: starts GraphiQL against this server. Queries and mutations go over HTTP
// (POST /graphql); subscriptions over WebSocket (graphql-transport-ws; the graphql-ws client is
// bundled in graphiql.min.js). Headers put in the headers editor, such as
// {"Authorization": "Bearer …"}, are sent with every HTTP request and, for a subscription, as
// the connection_init payload (GraphiQL's toolkit does that), which is where Kanjian reads the
// token on a WebSocket.
(function () {
  'use strict';
  var endpoint = new URL('/graphql', window.location.href);
  var socket = new URL(endpoint.href);
  socket.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

  var fetcher = GraphiQL.createFetcher({ url: endpoint.href, subscriptionUrl: socket.href });

  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
    })
  );
})();
