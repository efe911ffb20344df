// Legacy completions through the official SDK, against `cocoon model serve`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, MODEL, reference } from '../lib/server.mjs';

let srv;
before(async () => { srv = await start(); });
after(async () => { await srv?.stop(); });

async function collect(stream) {
  const out = { chunks: [], text: {}, finish: {}, usage: null, ids: new Set() };
  for await (const c of stream) {
    out.chunks.push(c);
    out.ids.add(c.id);
    assert.equal(c.object, 'text_completion');
    assert.equal(c.model, MODEL);
    if (c.usage) {
      assert.equal(out.usage, null, 'more than one usage chunk');
      assert.deepEqual(c.choices, []);
      out.usage = c.usage;
      continue;
    }
    assert.equal(c.choices.length, 1, 'one choice per chunk');
    const ch = c.choices[0];
    assert.equal(out.finish[ch.index], undefined, `chunk for choice ${ch.index} after its finish_reason`);
    out.text[ch.index] = (out.text[ch.index] ?? '') + ch.text;
    if (ch.finish_reason) out.finish[ch.index] = ch.finish_reason;
  }
  return out;
}

test('temperature 0 completions equal the Go/Python greedy reference, streamed or not', async () => {
  for (const g of reference.greedy.slice(0, 6)) {
    const params = { model: MODEL, prompt: g.prompt, max_tokens: g.completion_ids.length, temperature: 0 };
    const c = await srv.client.completions.create(params);
    assert.match(c.id, /^cmpl-[A-Za-z0-9]{24}$/);
    assert.equal(c.object, 'text_completion');
    assert.match(c.system_fingerprint, /^fp_[0-9a-f]{10}$/);
    assert.ok(Number.isInteger(c.created));
    assert.equal(c.choices.length, 1);
    assert.equal(c.choices[0].index, 0);
    assert.equal(c.choices[0].logprobs, null);
    assert.equal(c.choices[0].text, g.completion_text, g.prompt);
    assert.equal(c.choices[0].finish_reason, 'length');
    assert.deepEqual(c.usage, {
      prompt_tokens: g.prompt_ids.length,
      completion_tokens: g.completion_ids.length,
      total_tokens: g.prompt_ids.length + g.completion_ids.length,
    });
    const s = await collect(await srv.client.completions.create({ ...params, stream: true, stream_options: { include_usage: true } }));
    assert.equal(s.ids.size, 1);
    assert.equal(s.text[0], g.completion_text);
    assert.equal(s.finish[0], 'length');
    assert.deepEqual(s.usage, c.usage);
  }
});

test('completions streaming with a seed equals non-streaming; no usage chunk unless asked', async () => {
  const params = { model: MODEL, prompt: 'And God said', max_tokens: 20, temperature: 0.9, seed: 1234 };
  const whole = await srv.client.completions.create(params);
  const plain = await collect(await srv.client.completions.create({ ...params, stream: true }));
  assert.equal(plain.text[0], whole.choices[0].text);
  assert.equal(plain.finish[0], whole.choices[0].finish_reason);
  assert.equal(plain.usage, null);
  const withUsage = await collect(await srv.client.completions.create({ ...params, stream: true, stream_options: { include_usage: true } }));
  assert.equal(withUsage.text[0], whole.choices[0].text);
  assert.deepEqual(withUsage.usage, whole.usage);
});

test('completions max_tokens, stop and seeds', async () => {
  const three = await srv.client.completions.create({ model: MODEL, prompt: 'In the beginning', max_tokens: 3, temperature: 0 });
  assert.equal(three.usage.completion_tokens, 3);
  assert.equal(three.choices[0].finish_reason, 'length');

  const g = reference.greedy[0]; // ' of the LORD, and the LORD, …'
  const stopped = await srv.client.completions.create({ model: MODEL, prompt: g.prompt, max_tokens: 32, temperature: 0, stop: [',', 'zzz'] });
  assert.equal(stopped.choices[0].text, g.completion_text.slice(0, g.completion_text.indexOf(',')));
  assert.equal(stopped.choices[0].finish_reason, 'stop');

  const params = { model: MODEL, prompt: 'Blessed are the', max_tokens: 20, temperature: 1.1 };
  const a = await srv.client.completions.create({ ...params, seed: 99 });
  const b = await srv.client.completions.create({ ...params, seed: 99 });
  const c = await srv.client.completions.create({ ...params, seed: 100 });
  assert.equal(a.choices[0].text, b.choices[0].text);
  assert.notEqual(a.choices[0].text, c.choices[0].text);
});

test('completions n > 1, streamed and not', async () => {
  const params = { model: MODEL, prompt: 'And it came to pass', max_tokens: 10, temperature: 1, seed: 5 };
  const one = await srv.client.completions.create(params);
  const many = await srv.client.completions.create({ ...params, n: 4 });
  assert.deepEqual(many.choices.map((c) => c.index), [0, 1, 2, 3]);
  assert.equal(many.choices[0].text, one.choices[0].text);
  const texts = many.choices.map((c) => c.text);
  assert.equal(new Set(texts).size, 4, JSON.stringify(texts));
  assert.equal(many.usage.prompt_tokens, one.usage.prompt_tokens);
  assert.equal(many.usage.completion_tokens, 40);
  const s = await collect(await srv.client.completions.create({ ...params, n: 4, stream: true, stream_options: { include_usage: true } }));
  assert.deepEqual([0, 1, 2, 3].map((i) => s.text[i]), texts);
  assert.deepEqual([0, 1, 2, 3].map((i) => s.finish[i]), ['length', 'length', 'length', 'length']);
  assert.deepEqual(s.usage, many.usage);
});
