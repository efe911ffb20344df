// An instruct-shaped model through the official SDK: a Llama 3 style GGUF (byte-level BPE vocabulary,
// control tokens, Meta's Llama 3 chat template, Q4_K weights) written by the Go test
// inference/backend/embedded/sdkmodel_write_test.go, served with `cocoon model serve FILE`.
//
// The model replies "Hi ✓" to any conversation and then emits <|eot_id|>; on the way it emits a
// control token that is not end-of-generation (<|end_header_id|>) and "✓" as three byte tokens. The Go
// test writes, next to the model, the expected reply and each conversation's prompt token count, built
// by hand from the Llama 3 format (not with the server's renderer).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, repoRoot, rawStream } from '../lib/server.mjs';

let srv, dir, exp, MODEL;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cocoon-sdk-instruct-'));
  try {
    execFileSync('go', ['test', './inference/backend/embedded', '-run', '^TestWriteSDKModel$', '-count=1', `-sdkmodel.write=${dir}`],
      { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    // go test reports a failing test on stdout.
    throw new Error(`failed to write the model with go test:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  exp = JSON.parse(readFileSync(join(dir, 'llama3-instruct-test.json'), 'utf8'));
  MODEL = exp.model_name;
  srv = await start({ model: join(dir, 'llama3-instruct-test.gguf') });
});
after(async () => {
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// Control-token texts must never reach a client: the EOG that ends the turn, nor any other.
const CONTROL = /<\|[a-z_]+\|>/;

// collect drains a chat stream into per-index text, finish reasons and the usage chunk.
async function collect(stream) {
  const out = { text: {}, finish: {}, roles: {}, usage: null };
  for await (const c of stream) {
    assert.equal(c.model, MODEL);
    if (c.usage) {
      assert.equal(out.usage, null, 'more than one usage chunk');
      out.usage = c.usage;
      continue;
    }
    for (const ch of c.choices) {
      assert.equal(out.finish[ch.index], undefined, `chunk for choice ${ch.index} after its finish_reason`);
      if (ch.delta.role) out.roles[ch.index] = ch.delta.role;
      const d = ch.delta.content ?? '';
      assert.doesNotMatch(d, CONTROL, `delta ${JSON.stringify(d)} holds a control token`);
      assert.ok(!d.includes('\uFFFD'), `delta ${JSON.stringify(d)} splits a character`);
      out.text[ch.index] = (out.text[ch.index] ?? '') + d;
      if (ch.finish_reason) out.finish[ch.index] = ch.finish_reason;
    }
  }
  return out;
}

function usage(prompt, completion) {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

// counts returns the usage fields the checks compare (servers may add details objects).
function counts(u) {
  return { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens: u.total_tokens };
}

test('the server detected the Llama 3 chat template', async () => {
  // The line follows the address line the start waited for; give the pipe a moment.
  for (let i = 0; i < 50 && !/chat template: /.test(srv.stdout()); i++) await new Promise((r) => setTimeout(r, 20));
  const m = /^chat template: (.*)$/m.exec(srv.stdout());
  assert.ok(m, `no chat template line in ${JSON.stringify(srv.stdout())}`);
  assert.equal(m[1], exp.chat_template);
  assert.equal(m[1], 'llama3');
});

test('models.list shows the served file', async () => {
  const ids = [];
  for await (const m of await srv.client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, [MODEL]);
  assert.equal((await srv.client.models.retrieve(MODEL)).id, MODEL);
});

test('chat ends at <|eot_id|> with finish_reason stop, streaming and not, same usage', async (t) => {
  for (const conv of exp.conversations) {
    await t.test(conv.name, async () => {
      const want = usage(conv.prompt_tokens, exp.completion_tokens);
      const c = await srv.client.chat.completions.create({ model: MODEL, messages: conv.messages, max_tokens: 32, temperature: 0 });
      assert.equal(c.choices.length, 1);
      const ch = c.choices[0];
      assert.equal(ch.finish_reason, 'stop');
      assert.equal(ch.message.role, 'assistant');
      assert.equal(ch.message.content, exp.content);
      assert.ok(!ch.message.content.includes(exp.eog_text));
      assert.deepEqual(counts(c.usage), want);

      // Content as an array of one text part (how SDK users often send it) is the same prompt.
      const parts = conv.messages.map((m) => ({ role: m.role, content: [{ type: 'text', text: m.content }] }));
      const p = await srv.client.chat.completions.create({ model: MODEL, messages: parts, max_tokens: 32, temperature: 0 });
      assert.equal(p.choices[0].message.content, exp.content);
      assert.deepEqual(counts(p.usage), want);

      // Default temperature (sampled): the model's margins make the reply the same.
      const s = await collect(await srv.client.chat.completions.create({
        model: MODEL, messages: conv.messages, max_tokens: 32, stream: true, stream_options: { include_usage: true },
      }));
      assert.deepEqual(s.text, { 0: exp.content });
      assert.deepEqual(s.roles, { 0: 'assistant' });
      assert.deepEqual(s.finish, { 0: 'stop' });
      assert.deepEqual(counts(s.usage), want);
    });
  }
});

test('max_tokens inside the reply ends with length, without the EOG', async () => {
  const conv = exp.conversations[0];
  const c = await srv.client.chat.completions.create({ model: MODEL, messages: conv.messages, max_tokens: 2, temperature: 0 });
  assert.equal(c.choices[0].finish_reason, 'length');
  assert.equal(c.choices[0].message.content, 'Hi');
  assert.deepEqual(counts(c.usage), usage(conv.prompt_tokens, 2));
  // Exactly the reply's tokens: generation stops at its budget even when the next token is the EOG.
  const full = await srv.client.chat.completions.create({ model: MODEL, messages: conv.messages, max_tokens: exp.completion_tokens, temperature: 0 });
  assert.equal(full.choices[0].message.content, exp.content);
  assert.equal(full.choices[0].finish_reason, 'length');
});

test('a stop sequence completing a character split across byte tokens', async () => {
  const conv = exp.conversations[1];
  const c = await srv.client.chat.completions.create({ model: MODEL, messages: conv.messages, max_tokens: 32, temperature: 0, stop: ['✓'] });
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.equal(c.choices[0].message.content, exp.content.slice(0, exp.content.indexOf('✓')));
});

test('n=2: two choices, each ended by the EOG; completion tokens summed', async () => {
  const conv = exp.conversations[2];
  const want = usage(conv.prompt_tokens, 2 * exp.completion_tokens);
  const c = await srv.client.chat.completions.create({ model: MODEL, messages: conv.messages, max_tokens: 32, n: 2, seed: 5 });
  assert.deepEqual(c.choices.map((ch) => ch.index), [0, 1]);
  for (const ch of c.choices) {
    assert.equal(ch.finish_reason, 'stop');
    assert.equal(ch.message.content, exp.content);
  }
  assert.deepEqual(counts(c.usage), want);

  const s = await collect(await srv.client.chat.completions.create({
    model: MODEL, messages: conv.messages, max_tokens: 32, n: 2, seed: 5, stream: true, stream_options: { include_usage: true },
  }));
  assert.deepEqual(s.text, { 0: exp.content, 1: exp.content });
  assert.deepEqual(s.finish, { 0: 'stop', 1: 'stop' });
  assert.deepEqual(counts(s.usage), want);
});

test('the raw SSE stream carries no control-token text', async () => {
  const { resp, text } = await rawStream(srv.baseURL, '/chat/completions', {
    model: MODEL, messages: exp.conversations[0].messages, max_tokens: 32, temperature: 0, stream: true,
  });
  assert.equal(resp.status, 200);
  assert.doesNotMatch(text, CONTROL);
  assert.match(text, /"finish_reason":"stop"/);
  assert.ok(text.trimEnd().endsWith('data: [DONE]'));
});

// llama3Prompt renders messages in the Llama 3 format as a client formatting its own prompt would,
// without the leading <|begin_of_text|> (the server adds BOS).
function llama3Prompt(messages) {
  const header = (role) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;
  return messages.map((m) => header(m.role) + m.content.trim() + '<|eot_id|>').join('') + header('assistant');
}

test('completions: a plain prompt also ends at the EOG', async () => {
  const c = await srv.client.completions.create({ model: MODEL, prompt: 'Hello\n\n', max_tokens: 32, temperature: 0 });
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.equal(c.choices[0].text, exp.content);
  assert.equal(c.usage.completion_tokens, exp.completion_tokens);
  const s = await srv.client.completions.create({ model: MODEL, prompt: 'Hello\n\n', max_tokens: 32, temperature: 0, stream: true });
  let text = '';
  let finish = null;
  for await (const chunk of s) {
    for (const ch of chunk.choices) {
      assert.doesNotMatch(ch.text, CONTROL);
      text += ch.text;
      finish = ch.finish_reason ?? finish;
    }
  }
  assert.equal(text, exp.content);
  assert.equal(finish, 'stop');
});

// llama.cpp's server (and vLLM) tokenize a completions prompt with parse_special, so a client that
// renders the chat template itself sends the same tokens as a chat request; so does Cocoon.
test('completions: control tokens written in the prompt are parsed as in llama.cpp', async () => {
  const conv = exp.conversations[0];
  const c = await srv.client.completions.create({ model: MODEL, prompt: llama3Prompt(conv.messages), max_tokens: 32, temperature: 0 });
  assert.equal(c.choices[0].text, exp.content);
  assert.equal(c.usage.prompt_tokens, conv.prompt_tokens);
});
