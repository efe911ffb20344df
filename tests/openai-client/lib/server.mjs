// Starts `cocoon model serve` (the embedded demo model, or a GGUF file) on a free loopback port for one
// test file, and gives an official OpenAI SDK client pointed at it; with $COCOON_BASE_URL (set by
// run-provider.sh) the client points there instead.
//
// COCOON_BIN names a prebuilt binary (run.sh builds one for all files); without it the binary is
// built here with `go build` into a temporary folder.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const MODEL = 'cocoon-kjv-demo-1m';

// reference.json is the float64 Python reference the Go engine is checked against.
export const reference = JSON.parse(readFileSync(join(repoRoot, 'models', 'testdata', 'reference.json'), 'utf8'));

function binary() {
  if (process.env.COCOON_BIN) return { bin: process.env.COCOON_BIN, cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'cocoon-sdk-'));
  const bin = join(dir, 'cocoon');
  execFileSync('go', ['build', '-o', bin, './cmd/cocoon'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  return { bin, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// start serves the model (model: a GGUF path; default the embedded demo model; args: further serve
// flags) on 127.0.0.1:0 and resolves once the server printed its address. stdout() is all the server
// printed so far.
export async function start({ model, args = [] } = {}) {
  // run-provider.sh: the suite runs against a paid provider daemon, through a thin proxy that adds
  // the payment headers (tests/openai-client/provider); nothing to start here.
  if (process.env.COCOON_BASE_URL) {
    if (model) throw new Error('the provider runner serves the registry\'s demo model only');
    const baseURL = process.env.COCOON_BASE_URL;
    const client = new OpenAI({ baseURL, apiKey: 'unused-by-cocoon', maxRetries: 0, timeout: 60_000 });
    return { baseURL, client, stdout: () => '', async stop() {} };
  }
  const { bin, cleanup } = binary();
  const argv = ['model', 'serve', ...(model ? [model] : []), '--listen', '127.0.0.1:0', '--threads', '1', ...args];
  const child = spawn(bin, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Never leave the server behind, even when the test process dies without running after().
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stderr = '';
  let out = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const baseURL = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s; stderr: ${stderr}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}: ${stderr}`)); });
  });
  const client = new OpenAI({ baseURL, apiKey: 'unused-by-cocoon', maxRetries: 0, timeout: 60_000 });
  return {
    baseURL,
    client,
    stdout: () => out,
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      cleanup();
    },
  };
}

// rawStream POSTs body to path with fetch and returns the raw response text and its data payloads, to check
// the framing the SDK hides.
export async function rawStream(baseURL, path, body) {
  const resp = await fetch(baseURL + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await resp.text();
  return { resp, text };
}
