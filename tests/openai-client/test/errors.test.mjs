// Errors as the official SDK surfaces them: APIError subclasses with status, type, param, code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { start, MODEL } from '../lib/server.mjs';

let srv;
before(async () => { srv = await start(); });
after(async () => { await srv?.stop(); });

const user = [{ role: 'user', content: 'Hello' }];

// expectAPIError runs fn and checks the error the SDK throws.
async function expectAPIError(fn, { cls, status, type = 'invalid_request_error', param = null, code = null, message }) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'no error thrown');
  assert.ok(err instanceof OpenAI.APIError, `not an APIError: ${err}`);
  assert.ok(err instanceof cls, `${err.constructor.name}, want ${cls.name}: ${err.message}`);
  assert.equal(err.status, status);
  assert.equal(err.type, type, err.message);
  assert.equal(err.param, param, err.message);
  assert.equal(err.code, code, err.message);
  assert.equal(err.error?.type, type);
  assert.match(err.requestID ?? '', /^req_[0-9a-f]{32}$/);
  if (message) assert.match(err.message, message);
  return err;
}

test('unknown model: NotFoundError model_not_found, streamed or not, on every endpoint', async () => {
  const want = { cls: OpenAI.NotFoundError, status: 404, param: 'model', code: 'model_not_found', message: /gpt-4o/ };
  await expectAPIError(() => srv.client.chat.completions.create({ model: 'gpt-4o', messages: user }), want);
  await expectAPIError(() => srv.client.chat.completions.create({ model: 'gpt-4o', messages: user, stream: true }), want);
  await expectAPIError(() => srv.client.completions.create({ model: 'gpt-4o', prompt: 'x' }), want);
  await expectAPIError(() => srv.client.completions.create({ model: 'gpt-4o', prompt: 'x', stream: true }), want);
  await expectAPIError(() => srv.client.models.retrieve('gpt-4o'), want);
});

test('bad JSON: BadRequestError with null param and code', async () => {
  // The SDK always sends valid JSON; a raw body goes through its generic post with a string body.
  await expectAPIError(
    () => srv.client.post('/chat/completions', { body: '{"model":', headers: { 'content-type': 'application/json' } }),
    { cls: OpenAI.BadRequestError, status: 400, message: /could not parse the JSON body/ },
  );
});

test('wrong JSON type names the parameter', async () => {
  await expectAPIError(
    () => srv.client.chat.completions.create({ model: MODEL, messages: user, max_tokens: 'ten' }),
    { cls: OpenAI.BadRequestError, status: 400, param: 'max_tokens', code: 'invalid_type', message: /expected an integer, but got a string/ },
  );
});

test('missing and empty messages / prompt', async () => {
  await expectAPIError(() => srv.client.chat.completions.create({ model: MODEL }),
    { cls: OpenAI.BadRequestError, status: 400, param: 'messages', code: 'missing_required_parameter' });
  await expectAPIError(() => srv.client.chat.completions.create({ model: MODEL, messages: [] }),
    { cls: OpenAI.BadRequestError, status: 400, param: 'messages', code: 'empty_array' });
  await expectAPIError(() => srv.client.completions.create({ model: MODEL }),
    { cls: OpenAI.BadRequestError, status: 400, param: 'prompt', code: 'missing_required_parameter' });
  await expectAPIError(() => srv.client.chat.completions.create({ messages: user }),
    { cls: OpenAI.BadRequestError, status: 400, param: 'model', code: 'missing_required_parameter' });
});

test('out-of-range values', async () => {
  const bad = (param, code, extra, message) => expectAPIError(
    () => srv.client.chat.completions.create({ model: MODEL, messages: user, ...extra }),
    { cls: OpenAI.BadRequestError, status: 400, param, code, message });
  await bad('max_tokens', 'integer_below_min_value', { max_tokens: 0 });
  await bad('max_completion_tokens', 'integer_below_min_value', { max_completion_tokens: -1 });
  await bad('temperature', 'decimal_above_max_value', { temperature: 2.5 });
  await bad('top_p', 'decimal_below_min_value', { top_p: 0 });
  await bad('n', 'integer_below_min_value', { n: 0 });
  await bad('n', 'integer_above_max_value', { n: 9 }, /Expected a value <= 8/);
  await bad('stop', 'array_above_max_length', { stop: ['a', 'b', 'c', 'd', 'e'] });
  await bad('stream_options', 'invalid_value', { stream_options: { include_usage: true } });
  await bad('messages[0].role', null, { messages: [{ role: 'wizard', content: 'x' }] });
  await bad('messages[0].content', 'invalid_value', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:,' } }] }] });
});

test('context window exceeded', async () => {
  const long = 'And the earth was without form, and void. '.repeat(200);
  await expectAPIError(() => srv.client.completions.create({ model: MODEL, prompt: long }),
    { cls: OpenAI.BadRequestError, status: 400, param: 'prompt', code: 'context_length_exceeded', message: /maximum context length/ });
  await expectAPIError(() => srv.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: long }], stream: true }),
    { cls: OpenAI.BadRequestError, status: 400, param: 'messages', code: 'context_length_exceeded' });
});

test('unsupported parameters are refused, not silently ignored', async () => {
  const chat = [
    ['logprobs', 'unsupported_parameter', { logprobs: true }],
    ['top_logprobs', 'unsupported_parameter', { top_logprobs: 2 }],
    ['tools', 'unsupported_parameter', { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] }],
    ['tool_choice', 'unsupported_parameter', { tool_choice: 'required' }],
    ['response_format.type', 'unsupported_value', { response_format: { type: 'json_object' } }],
    ['presence_penalty', 'unsupported_value', { presence_penalty: 0.5 }],
    ['frequency_penalty', 'unsupported_value', { frequency_penalty: -1 }],
    ['logit_bias', 'unsupported_parameter', { logit_bias: { 50256: -100 } }],
    ['modalities', 'unsupported_value', { modalities: ['text', 'audio'] }],
    ['audio', 'unsupported_parameter', { audio: { voice: 'alloy', format: 'wav' } }],
    ['reasoning_effort', 'unsupported_parameter', { reasoning_effort: 'low' }],
  ];
  for (const [param, code, extra] of chat) {
    await expectAPIError(() => srv.client.chat.completions.create({ model: MODEL, messages: user, ...extra }),
      { cls: OpenAI.BadRequestError, status: 400, param, code });
  }
  const legacy = [
    ['echo', { echo: true }],
    ['logprobs', { logprobs: 1 }],
    ['best_of', { best_of: 3 }],
    ['suffix', { suffix: 'end' }],
  ];
  for (const [param, extra] of legacy) {
    await expectAPIError(() => srv.client.completions.create({ model: MODEL, prompt: 'x', ...extra }),
      { cls: OpenAI.BadRequestError, status: 400, param, code: 'unsupported_parameter' });
  }
  // Their no-op values, which SDK wrappers often send by default, are accepted.
  const ok = await srv.client.chat.completions.create({
    model: MODEL, messages: user, max_tokens: 2, logprobs: false, presence_penalty: 0, frequency_penalty: 0,
    logit_bias: {}, tools: [], tool_choice: 'none', response_format: { type: 'text' }, modalities: ['text'],
    user: 'someone', metadata: { k: 'v' }, store: false, parallel_tool_calls: false,
  });
  assert.equal(ok.object, 'chat.completion');
  const okLegacy = await srv.client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 2, best_of: 1, echo: false, suffix: '' });
  assert.equal(okLegacy.object, 'text_completion');
});

test('unknown route and wrong method', async () => {
  await expectAPIError(() => srv.client.embeddings.create({ model: MODEL, input: 'x' }),
    { cls: OpenAI.NotFoundError, status: 404, code: 'unknown_url' });
  await expectAPIError(() => srv.client.get('/chat/completions'),
    { cls: OpenAI.APIError, status: 405, code: 'method_not_allowed' });
});
