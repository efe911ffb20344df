// SSE framing that the SDK hides, read with plain fetch: data: lines, blank-line separators, the
// final [DONE], headers, and JSON (not SSE) errors for requests refused before streaming.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, MODEL, rawStream } from '../lib/server.mjs';

let srv;
before(async () => { srv = await start(); });
after(async () => { await srv?.stop(); });

// frames splits an SSE body into its events and checks each is exactly one "data: " line.
function frames(text) {
  assert.ok(text.endsWith('\n\n'), 'the body ends with a blank line');
  const events = text.slice(0, -2).split('\n\n');
  for (const e of events) {
    assert.ok(!e.includes('\n'), `one line per event: ${JSON.stringify(e)}`);
    assert.ok(e.startsWith('data: '), `only data: fields (no event:, id:, comments): ${JSON.stringify(e)}`);
  }
  return events.map((e) => e.slice('data: '.length));
}

for (const [path, body] of [
  ['/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 0, n: 2, stream: true, stream_options: { include_usage: true } }],
  ['/completions', { model: MODEL, prompt: 'In the beginning', max_tokens: 8, temperature: 0, n: 2, stream: true, stream_options: { include_usage: true } }],
]) {
  test(`SSE framing of ${path}`, async () => {
    const { resp, text } = await rawStream(srv.baseURL, path, body);
    assert.equal(resp.status, 200);
    assert.equal(resp.headers.get('content-type'), 'text/event-stream');
    assert.equal(resp.headers.get('cache-control'), 'no-cache');
    assert.match(resp.headers.get('x-request-id'), /^req_[0-9a-f]{32}$/);
    const data = frames(text);
    assert.equal(data.at(-1), '[DONE]');
    assert.equal(data.filter((d) => d === '[DONE]').length, 1);
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    const usage = chunks.at(-1);
    assert.deepEqual(usage.choices, []);
    assert.equal(usage.usage.completion_tokens, 16);
    for (const c of chunks.slice(0, -1)) {
      assert.equal(c.usage, null, 'usage is null before the usage chunk');
      assert.equal(c.choices.length, 1);
    }
    // Choice 0 finishes before choice 1 starts; each index has exactly one finish_reason.
    const order = chunks.slice(0, -1).map((c) => c.choices[0].index);
    assert.deepEqual(order, [...order].sort());
    for (const i of [0, 1]) {
      assert.equal(chunks.filter((c) => c.choices[0]?.index === i && c.choices[0].finish_reason).length, 1);
    }
  });
}

test('a stream refused before it starts is a JSON error with its status', async () => {
  const { resp, text } = await rawStream(srv.baseURL, '/chat/completions', { model: 'nope', messages: [{ role: 'user', content: 'x' }], stream: true });
  assert.equal(resp.status, 404);
  assert.equal(resp.headers.get('content-type'), 'application/json');
  const body = JSON.parse(text);
  assert.deepEqual(Object.keys(body), ['error']);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(body.error.code, 'model_not_found');
});

test('non-streaming responses are single JSON documents', async () => {
  const { resp, text } = await rawStream(srv.baseURL, '/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
  assert.equal(resp.status, 200);
  assert.equal(resp.headers.get('content-type'), 'application/json');
  const c = JSON.parse(text);
  assert.deepEqual(Object.keys(c).sort(), ['choices', 'created', 'id', 'model', 'object', 'system_fingerprint', 'usage']);
  assert.deepEqual(Object.keys(c.choices[0]).sort(), ['finish_reason', 'index', 'logprobs', 'message']);
  assert.deepEqual(Object.keys(c.choices[0].message).sort(), ['content', 'refusal', 'role']);
  assert.deepEqual(Object.keys(c.usage).sort(), ['completion_tokens', 'prompt_tokens', 'total_tokens']);
});
