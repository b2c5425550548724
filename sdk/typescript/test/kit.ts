// What several test files share: fake JSON-RPC nodes for the client.

/** A `fetch` that answers each JSON-RPC request with `answer(request)` (the parsed body). */
export function fakeFetch(answer: (body: any) => { status?: number; body: string }): typeof fetch {
  return (async (_url: any, init: any) => {
    const a = answer(JSON.parse(init.body));
    return new Response(a.body, { status: a.status ?? 200, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
}

/** A JSON-RPC error a handler throws to make the fake node answer it. */
export class FakeRpcError {
  constructor(readonly code: number, readonly message: string, readonly data?: unknown) {}
}

/**
 * A fake node: `handlers` by method name get the request's `params` and
 * answer its `result` (or throw a {@link FakeRpcError}); every request is
 * logged in `requests`. A method without a handler answers -32601.
 */
export function fakeNode(handlers: Record<string, (params: any) => unknown>): { fetch: typeof fetch; requests: any[] } {
  const requests: any[] = [];
  const f = fakeFetch((req) => {
    requests.push(req);
    const handler = handlers[req.method];
    if (!handler) return { body: JSON.stringify({ jsonrpc: '2.0', id: req.id, error: { code: -32601, message: `no method ${req.method}` } }) };
    try {
      return { body: JSON.stringify({ jsonrpc: '2.0', id: req.id, result: handler(req.params) }) };
    } catch (e) {
      if (!(e instanceof FakeRpcError)) throw e;
      return { body: JSON.stringify({ jsonrpc: '2.0', id: req.id, error: { code: e.code, message: e.message, data: e.data } }) };
    }
  });
  return { fetch: f, requests };
}
