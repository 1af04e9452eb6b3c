/**
 * The runner's edge: auth, CORS, body validation and limits, workspace paths, uploads.
 * Real HTTP on 127.0.0.1 (ephemeral port), real SQLite in a temp workspace.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runner } from '../../src/runner/runner.ts';
import { TOKEN, call, fakeSpec, makeWorkspace, startFakeRunner } from './helpers.ts';

let runner: Runner;
let ws: string;

beforeAll(async () => {
  ws = makeWorkspace();
  runner = await startFakeRunner(ws, { maxUploadBytes: 4096, bodyLimit: 64 * 1024, allowOrigins: ['http://localhost:5173'] });
});
afterAll(async () => {
  await runner?.close();
});

describe('auth', () => {
  it('refuses /v1 routes without the bearer token (401) and with a wrong one', async () => {
    for (const [method, path] of [
      ['GET', '/v1/info'],
      ['GET', '/v1/jobs'],
      ['POST', '/v1/jobs'],
      ['GET', '/v1/events'],
      ['PUT', '/v1/files/data/x.jsonl'],
      ['GET', '/v1/models'],
      ['POST', '/v1/chat/completions'],
    ]) {
      const none = await fetch(runner.url + path, { method });
      expect(none.status, `${method} ${path} without token`).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      const body = (await none.json()) as { error: string; message: string };
      expect(body.error).toBe('unauthorized');
      expect(body.message).toMatch(/Authorization: Bearer/);
      const wrong = await fetch(runner.url + path, { method, headers: { authorization: 'Bearer nope' } });
      expect(wrong.status, `${method} ${path} wrong token`).toBe(401);
      const almost = await fetch(runner.url + path, { method, headers: { authorization: `Bearer ${TOKEN}x` } });
      expect(almost.status).toBe(401);
    }
    expect((await call(runner, 'GET', '/v1/info')).status).toBe(200);
    // Spellings a router might decode to a /v1 route are refused too.
    for (const path of ['/%761/jobs', '//v1/jobs', '/v1//jobs', '/V1/jobs', '/v1/jobs/'])
      expect((await rawRequest('GET', path, '', {})).status, path).toBe(401);
  });

  it('binds loopback and reports itself', async () => {
    expect(runner.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { json } = await call(runner, 'GET', '/v1/info');
    expect(json.mode).toBe('runner');
    expect(json.device).toBe('CPU (PyTorch)');
    expect(json.jobs).toContain('distill');
    expect(json.version).toMatch(/^retort 0\.1\.0/);
  });
});

describe('CORS', () => {
  it('answers the allowed origin’s preflight and adds CORS headers to its requests', async () => {
    const pre = await fetch(runner.url + '/v1/jobs', {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    const res = await fetch(runner.url + '/v1/info', { headers: { origin: 'http://localhost:5173', authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
  });

  it('refuses other origins: 403 on preflight and requests, no CORS headers', async () => {
    for (const origin of ['http://evil.example', 'http://localhost:5174', 'null']) {
      const pre = await fetch(runner.url + '/v1/jobs', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
      expect(pre.status, origin).toBe(403);
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
      const res = await fetch(runner.url + '/v1/info', { headers: { origin, authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(((await res.json()) as { message: string }).message).toContain(origin);
    }
  });
});

describe('bodies', () => {
  it('names the failing field of a malformed spec (400)', async () => {
    const spec = fakeSpec('main', 2, 0) as Record<string, any>;
    spec.stages[0].loss.alpha = 1.5;
    spec.stages[0].stop.steps = 0;
    const r = await call(runner, 'POST', '/v1/jobs', spec);
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('invalid-body');
    const paths = r.json.problems.map((p: { path: string }) => p.path);
    expect(paths).toContain('stages.0.loss.alpha');
    expect(paths).toContain('stages.0.stop.steps');
    expect(r.json.message).toMatch(/stages\.0\.loss\.alpha: must be ≤ 1/);

    const wrapped = await call(runner, 'POST', '/v1/jobs', { spec: { ...spec, kind: 'distil' } });
    expect(wrapped.status).toBe(400);
    expect(wrapped.json.problems[0].path).toBe('spec.kind');
    expect(wrapped.json.message).toMatch(/spec\.kind: must be one of 'distill'/);

    const unknown = await call(runner, 'POST', '/v1/jobs', { ...fakeSpec('main', 2, 0), learningRate: 3 });
    expect(unknown.json.problems).toEqual([{ path: 'learningRate', message: 'unknown field' }]);

    const gpus = await call(runner, 'POST', '/v1/jobs', { spec: fakeSpec('main', 2, 0), gpus: [0] });
    expect(gpus.status).toBe(400);
    expect(gpus.json.message).toMatch(/^gpus: this runner has no CUDA GPUs/);

    const exp = await call(runner, 'POST', '/v1/jobs', { kind: 'export', model: { path: 'models/student' }, out: 'exports/s', dtype: 'q3' });
    expect(exp.status).toBe(400);
    expect(exp.json.message).toMatch(/^job spec: dtype: must be one of 'fp32', 'fp16', 'q8', 'q4'/);

    const control = await call(runner, 'POST', '/v1/jobs/j0-000000/control', { action: 'explode' });
    expect([400, 404]).toContain(control.status);
  });

  it('answers 400 for bad JSON and 413 for an oversized body', async () => {
    const bad = await call(runner, 'POST', '/v1/jobs', '{"kind": "distill",');
    expect(bad.status).toBe(400);
    const huge = { ...fakeSpec('main', 2, 0), $schema: 'x'.repeat(100 * 1024) };
    const r = await call(runner, 'POST', '/v1/jobs', huge);
    expect(r.status).toBe(413);
    expect(r.json.error).toBe('too-large');
    expect(existsSync(join(ws, 'jobs')) ? readdirSync(join(ws, 'jobs')) : []).toEqual([]);
  });
});

describe('workspace paths', () => {
  it('refuses spec paths that leave the workspace (400 naming the field)', async () => {
    const cases: [(s: Record<string, any>) => void, string, RegExp][] = [
      [(s) => (s.student.path = '../outside'), 'student.path', /contains '\.\.'/],
      [(s) => (s.teacher.path = '/etc'), 'teacher.path', /is absolute/],
      [(s) => (s.stages[0].data.path = 'data/../../x.jsonl'), 'stages.0.data.path', /contains '\.\.'/],
      [(s) => (s.stages[0].data.path = 'data\\..\\x'), 'stages.0.data.path', /backslash/],
      [(s) => (s.output = { dir: 'escape/out' }), 'output.dir', /symbolic link/],
    ];
    const outside = join(tmpdir(), `retort-outside-${process.pid}`);
    mkdirSync(outside, { recursive: true });
    symlinkSync(outside, join(ws, 'escape'));
    for (const [edit, field, why] of cases) {
      const spec = structuredClone(fakeSpec('main', 2, 0)) as Record<string, any>;
      edit(spec);
      const r = await call(runner, 'POST', '/v1/jobs', spec);
      expect(r.status, field).toBe(400);
      expect(r.json.error).toBe('bad-path');
      expect(r.json.message.startsWith(`${field}: `), r.json.message).toBe(true);
      expect(r.json.message).toMatch(why);
    }
  });

  it('uploads atomically inside the workspace, refuses escapes (400) and oversized files (413)', async () => {
    const body = '{"text": "hello"}\n'.repeat(10);
    const ok = await call(runner, 'PUT', '/v1/files/data/uploaded/set.jsonl', body, { 'content-type': 'application/octet-stream' });
    expect(ok.status).toBe(201);
    expect(ok.json).toEqual({ path: 'data/uploaded/set.jsonl', bytes: body.length });
    expect(readFileSync(join(ws, 'data/uploaded/set.jsonl'), 'utf8')).toBe(body);
    const noType = await fetch(`${runner.url}/v1/files/data/uploaded/plain.txt`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}` }, body: 'abc' });
    expect(noType.status).toBe(201);

    // Sent raw (fetch would normalise the dots away before they reach the runner).
    for (const path of ['data/../../etc/x', 'data/%2E%2E/%2E%2E/etc/x', '%2Fetc%2Fpasswd', 'escape/evil.txt', 'data/a%5Cb']) {
      const r = await rawPut(`/v1/files/${path}`, 'x');
      expect(r.status, path).toBe(400);
      expect(JSON.parse(r.body).error).toBe('bad-path');
    }
    expect(existsSync(join(tmpdir(), `retort-outside-${process.pid}`, 'evil.txt'))).toBe(false);

    const big = 'y'.repeat(5000);
    const declared = await call(runner, 'PUT', '/v1/files/data/big.bin', big, { 'content-type': 'application/octet-stream' });
    expect(declared.status).toBe(413);
    // Streamed without a length: counted while writing, nothing left behind.
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new TextEncoder().encode('z'.repeat(1000)));
        c.close();
      },
    });
    const chunked = await fetch(`${runner.url}/v1/files/data/big2.bin`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(readdirSync(join(ws, 'data')).filter((n) => n.startsWith('big') || n.startsWith('.upload-'))).toEqual([]);
  });

  it('404s unknown jobs and ids that could not be job ids', async () => {
    for (const id of ['j0-abcdef', '..%2F..%2Fetc', 'nope']) {
      const r = await call(runner, 'GET', `/v1/jobs/${id}`);
      expect(r.status, id).toBe(404);
    }
  });
});

/** A PUT whose path goes out exactly as written. */
function rawPut(path: string, body: string): Promise<{ status: number; body: string }> {
  return rawRequest('PUT', path, body, { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' });
}

function rawRequest(method: string, path: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(runner.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method, headers }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
