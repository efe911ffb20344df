// chat.completions and models through the official SDK, against `cocoon model serve`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, MODEL, reference } from '../lib/server.mjs';

let srv;
before(async () => { srv = await start(); });
after(async () => { await srv?.stop(); });

const messages = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Tell me about the sea.' },
];

// collect drains a chat stream into per-index text, finish reasons, roles and the usage chunk.
async function collect(stream) {
  const out = { chunks: [], text: {}, finish: {}, roles: {}, usage: null, ids: new Set() };
  for await (const c of stream) {
    out.chunks.push(c);
    out.ids.add(c.id);
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.model, MODEL);
    if (c.usage) {
      assert.equal(out.usage, null, 'more than one usage chunk');
      assert.deepEqual(c.choices, [], 'the usage chunk has no choices');
      out.usage = c.usage;
      continue;
    }
    for (const ch of c.choices) {
      assert.equal(out.finish[ch.index], undefined, `chunk for choice ${ch.index} after its finish_reason`);
      if (ch.delta.role) out.roles[ch.index] = ch.delta.role;
      if (ch.delta.content) out.text[ch.index] = (out.text[ch.index] ?? '') + ch.delta.content;
      if (ch.finish_reason) out.finish[ch.index] = ch.finish_reason;
    }
  }
  return out;
}

test('models.list and models.retrieve', async () => {
  const page = await srv.client.models.list();
  const ids = [];
  for await (const m of page) {
    assert.equal(m.object, 'model');
    assert.equal(typeof m.created, 'number');
    assert.equal(typeof m.owned_by, 'string');
    ids.push(m.id);
  }
  assert.deepEqual(ids, [MODEL]);
  const m = await srv.client.models.retrieve(MODEL);
  assert.equal(m.id, MODEL);
  assert.equal(m.object, 'model');
});

test('chat non-streaming: envelope, message, usage', async () => {
  const { data: c, response } = await srv.client.chat.completions
    .create({ model: MODEL, messages, max_tokens: 20, temperature: 0 })
    .withResponse();
  assert.match(response.headers.get('x-request-id') ?? '', /^req_[0-9a-f]{32}$/);
  assert.match(c.id, /^chatcmpl-[A-Za-z0-9]{24}$/);
  assert.equal(c.object, 'chat.completion');
  assert.equal(c.model, MODEL);
  assert.ok(Number.isInteger(c.created) && Math.abs(c.created - Date.now() / 1000) < 60, `created ${c.created}`);
  assert.match(c.system_fingerprint, /^fp_[0-9a-f]{10}$/);
  assert.equal(c.choices.length, 1);
  const ch = c.choices[0];
  assert.equal(ch.index, 0);
  assert.equal(ch.message.role, 'assistant');
  assert.equal(typeof ch.message.content, 'string');
  assert.ok(ch.message.content.length > 0);
  assert.equal(ch.message.refusal, null);
  assert.equal(ch.logprobs, null);
  assert.ok(['stop', 'length'].includes(ch.finish_reason));
  const u = c.usage;
  assert.ok(u.prompt_tokens > 0 && u.completion_tokens > 0 && u.completion_tokens <= 20);
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  if (ch.finish_reason === 'length') assert.equal(u.completion_tokens, 20);
});

test('temperature 0 chat equals the Go/Python greedy reference', async () => {
  // The reference prompts that are the embedded chat template rendered for these messages.
  const cases = [
    { msgs: [{ role: 'user', content: 'Who created the heaven and the earth?' }], prompt: 'User: Who created the heaven and the earth?\nAssistant:' },
    { msgs: messages, prompt: 'System: You are a helpful assistant.\nUser: Tell me about the sea.\nAssistant:' },
  ];
  for (const { msgs, prompt } of cases) {
    const g = reference.greedy.find((r) => r.prompt === prompt);
    assert.ok(g, `reference has no case for ${JSON.stringify(prompt)}`);
    const c = await srv.client.chat.completions.create({
      model: MODEL, messages: msgs, max_completion_tokens: g.completion_ids.length, temperature: 0,
    });
    assert.equal(c.choices[0].message.content, g.completion_text);
    assert.equal(c.choices[0].finish_reason, 'length');
    assert.deepEqual(
      [c.usage.prompt_tokens, c.usage.completion_tokens],
      [g.prompt_ids.length, g.completion_ids.length],
    );
  }
});

test('chat streaming equals non-streaming, with and without include_usage', async () => {
  const params = { model: MODEL, messages, max_tokens: 24, temperature: 0.8, seed: 42 };
  const whole = await srv.client.chat.completions.create(params);
  for (const includeUsage of [false, true]) {
    const stream = await srv.client.chat.completions.create({
      ...params, stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
    });
    const s = await collect(stream);
    assert.equal(s.ids.size, 1, 'one id for the whole stream');
    assert.match([...s.ids][0], /^chatcmpl-/);
    assert.equal(s.roles[0], 'assistant');
    assert.equal(s.text[0], whole.choices[0].message.content);
    assert.equal(s.finish[0], whole.choices[0].finish_reason);
    assert.equal(s.chunks[0].system_fingerprint, whole.system_fingerprint);
    if (includeUsage) {
      assert.deepEqual(s.usage, whole.usage);
    } else {
      assert.equal(s.usage, null);
    }
  }
});

test('SDK stream helper assembles the same message', async () => {
  const params = { model: MODEL, messages, max_tokens: 16, temperature: 0 };
  const whole = await srv.client.chat.completions.create(params);
  const runner = srv.client.chat.completions.stream({ ...params, stream_options: { include_usage: true } });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, whole.choices[0].message.content);
  assert.equal(final.choices[0].finish_reason, whole.choices[0].finish_reason);
  assert.deepEqual(final.usage, whole.usage);
});

test('max_tokens and max_completion_tokens cap the completion', async () => {
  for (const key of ['max_tokens', 'max_completion_tokens']) {
    const c = await srv.client.chat.completions.create({ model: MODEL, messages, [key]: 3, temperature: 0 });
    assert.equal(c.usage.completion_tokens, 3, key);
    assert.equal(c.choices[0].finish_reason, 'length', key);
  }
});

test('stop sequences end the text before the stop, finish_reason stop', async () => {
  const params = { model: MODEL, messages: [{ role: 'user', content: 'Who created the heaven and the earth?' }], temperature: 0, max_tokens: 32 };
  const free = await srv.client.chat.completions.create(params);
  const text = free.choices[0].message.content;
  // Stop at the second word of the greedy answer: the answer must be the text before it.
  const stop = text.split(' ').filter(Boolean)[1];
  const cut = text.slice(0, text.indexOf(stop));
  for (const s of [stop, [stop, 'zzzz-never']]) {
    const c = await srv.client.chat.completions.create({ ...params, stop: s });
    assert.equal(c.choices[0].message.content, cut);
    assert.equal(c.choices[0].finish_reason, 'stop');
    assert.ok(c.usage.completion_tokens < free.usage.completion_tokens);
    const st = await collect(await srv.client.chat.completions.create({ ...params, stop: s, stream: true }));
    assert.equal(st.text[0] ?? '', cut);
    assert.equal(st.finish[0], 'stop');
  }
});

test('seed determinism: same seed same text, other seed other text', async () => {
  const params = { model: MODEL, messages, max_tokens: 24, temperature: 1.2 };
  const a = await srv.client.chat.completions.create({ ...params, seed: 7 });
  const b = await srv.client.chat.completions.create({ ...params, seed: 7 });
  const c = await srv.client.chat.completions.create({ ...params, seed: 8 });
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  assert.notEqual(a.choices[0].message.content, c.choices[0].message.content);
  // Seeds are int64 in the API: negative ones are valid and reproducible too.
  const d = await srv.client.chat.completions.create({ ...params, seed: -7 });
  const e = await srv.client.chat.completions.create({ ...params, seed: -7 });
  assert.equal(d.choices[0].message.content, e.choices[0].message.content);
  assert.notEqual(d.choices[0].message.content, a.choices[0].message.content);
});

test('n > 1: independent indexed choices, reproducible with a seed, usage counts the prompt once', async () => {
  const params = { model: MODEL, messages, max_tokens: 12, temperature: 1, seed: 11 };
  const one = await srv.client.chat.completions.create(params);
  const many = await srv.client.chat.completions.create({ ...params, n: 3 });
  assert.equal(many.choices.length, 3);
  assert.deepEqual(many.choices.map((c) => c.index), [0, 1, 2]);
  // Choice 0 uses the request's seed itself, so it equals the n=1 answer.
  assert.equal(many.choices[0].message.content, one.choices[0].message.content);
  const texts = many.choices.map((c) => c.message.content);
  assert.equal(new Set(texts).size, 3, `samples must differ: ${JSON.stringify(texts)}`);
  const again = await srv.client.chat.completions.create({ ...params, n: 3 });
  assert.deepEqual(again.choices.map((c) => c.message.content), texts);
  assert.equal(many.usage.prompt_tokens, one.usage.prompt_tokens);
  assert.equal(many.usage.completion_tokens, 36, 'three choices of max_tokens 12, all cut by length');
  assert.equal(many.usage.total_tokens, many.usage.prompt_tokens + many.usage.completion_tokens);

  const s = await collect(await srv.client.chat.completions.create({
    ...params, n: 3, stream: true, stream_options: { include_usage: true },
  }));
  assert.deepEqual([0, 1, 2].map((i) => s.text[i]), texts);
  assert.deepEqual([0, 1, 2].map((i) => s.finish[i]), many.choices.map((c) => c.finish_reason));
  assert.deepEqual([0, 1, 2].map((i) => s.roles[i]), ['assistant', 'assistant', 'assistant']);
  assert.deepEqual(s.usage, many.usage);
  for (const c of s.chunks) assert.ok(c.choices.length <= 1, 'one choice per chunk');

  // With temperature 0, every choice is the greedy answer.
  const greedy = await srv.client.chat.completions.create({ ...params, temperature: 0, n: 2 });
  assert.equal(greedy.choices[0].message.content, greedy.choices[1].message.content);
});

test('SDK helpers: stream() with n=2 and parse() without a schema', async () => {
  const params = { model: MODEL, messages, max_tokens: 8, temperature: 1, seed: 3, n: 2 };
  const whole = await srv.client.chat.completions.create(params);
  const final = await srv.client.chat.completions.stream(params).finalChatCompletion();
  assert.deepEqual(final.choices.map((c) => c.message.content), whole.choices.map((c) => c.message.content));
  // parse() refuses finish_reason "length" by design, so give it answers that end at a stop sequence.
  const stopParams = { model: MODEL, messages, max_tokens: 64, temperature: 0, stop: [','] };
  const plain = await srv.client.chat.completions.create(stopParams);
  assert.equal(plain.choices[0].finish_reason, 'stop');
  const parsed = await srv.client.chat.completions.parse(stopParams);
  assert.equal(parsed.choices[0].message.content, plain.choices[0].message.content);
  assert.equal(parsed.choices[0].message.parsed, null);
});

test('a client that leaves mid-stream does not break the server', async () => {
  const stream = await srv.client.chat.completions.create({ model: MODEL, messages, temperature: 1, stream: true });
  let got = 0;
  for await (const c of stream) {
    if (c.choices[0]?.delta?.content) got++;
    if (got === 2) break; // leaving the loop aborts the request
  }
  assert.equal(got, 2);
  assert.ok(stream.controller.signal.aborted);
  const started = Date.now();
  const next = await srv.client.chat.completions.create({ model: MODEL, messages, max_tokens: 4, temperature: 0 });
  assert.equal(next.usage.completion_tokens, 4);
  assert.ok(Date.now() - started < 5_000, 'the aborted generation kept the model busy');
});
