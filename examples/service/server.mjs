#!/usr/bin/env node
// An example service that embeds the engine: jobs over HTTP with plain
// node:http, no framework.
//
//   node examples/service/server.mjs [PORT]      (or PORT=8080; 0 = any free port)
//
//   POST   /jobs             a job's options as JSON (the JobOptions schema), or
//                            {"args": [...]}, a virt-v2v command line  -> 201 {id}
//   GET    /jobs             every job's id and status
//   GET    /jobs/:id         status: running | succeeded | failed | cancelled,
//                            with the result or the error message
//   GET    /jobs/:id/events  server-sent events: the job's events so far, then
//                            live ones, then `end` with the final status
//   DELETE /jobs/:id         cancel the job -> 202 (it then ends as cancelled)
//
// It listens on 127.0.0.1 only; SIGINT/SIGTERM cancel what still runs, wait
// for its cleanup and exit 0. Jobs are kept in memory for the life of the
// process. The jobs' work dirs go under $TMPDIR (or V2V_WORK_PARENT).
//
// The repository's package.json names the package "v2v-engine" and maps it
// to the build output (dist/src/index.js, `npm run build:ts`), so inside the
// repository this import resolves to the package itself, exactly as it does
// for a service that has installed v2v-engine as a dependency.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { createEngine, JobOptions, optionsFromArgs } from 'v2v-engine';

const MAX_BODY = 1024 * 1024; // bytes of a POST body
const HEARTBEAT_MS = 15_000; // an SSE comment now and then, so that idle proxies keep the stream

/**
 * @typedef {'running' | 'succeeded' | 'failed' | 'cancelled'} Status
 * @typedef {{
 *   id: string, status: Status, created: string, ended?: string,
 *   events: { type: string }[], streams: Set<http.ServerResponse>,
 *   abort: AbortController, result?: unknown, error?: string,
 * }} Job
 */

/** @type {Map<string, Job>} */
const jobs = new Map();
const engine = createEngine(process.env.V2V_WORK_PARENT ? { workParent: process.env.V2V_WORK_PARENT } : {});
let shuttingDown = false;

// ---- jobs -------------------------------------------------------------------

/** Start a job with validated options; it runs on while clients come and go. */
function startJob(options) {
  /** @type {Job} */
  const job = {
    id: randomUUID(),
    status: 'running',
    created: new Date().toISOString(),
    events: [],
    streams: new Set(),
    abort: new AbortController(),
  };
  jobs.set(job.id, job);
  const onEvent = (e) => {
    job.events.push(e);
    for (const res of job.streams) sendEvent(res, e.type, e, job.events.length - 1);
  };
  Promise.resolve()
    .then(() => engine.convert(options, { signal: job.abort.signal, onEvent }))
    .then(
      (result) => finish(job, 'succeeded', { result }),
      (err) => {
        const cancelled = err?.code === 'ABORT_ERR' || job.abort.signal.aborted;
        finish(job, cancelled ? 'cancelled' : 'failed', { error: String(err?.message ?? err) });
      },
    );
  return job;
}

function finish(job, status, fields) {
  Object.assign(job, { status, ended: new Date().toISOString() }, fields);
  for (const res of job.streams) endStream(res, job);
  job.streams.clear();
}

/** What GET /jobs/:id answers. */
function view(job) {
  const { id, status, created, ended, result, error } = job;
  return { id, status, created, ended, result, error };
}

// ---- server-sent events -----------------------------------------------------

function sendEvent(res, type, data, id) {
  res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
}

function endStream(res, job) {
  sendEvent(res, 'end', view(job));
  res.end();
}

function streamEvents(req, res, job) {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    // The connection ends with the stream (after `end`), not kept for another request.
    Connection: 'close',
  });
  // A client that reconnects says which event it saw last (the `id:` lines).
  const last = Number(req.headers['last-event-id']);
  const from = Number.isInteger(last) && last >= 0 ? last + 1 : 0;
  for (let i = from; i < job.events.length; i++) sendEvent(res, job.events[i].type, job.events[i], i);
  if (job.status !== 'running') return endStream(res, job);
  job.streams.add(res);
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  res.on('close', () => {
    clearInterval(heartbeat);
    job.streams.delete(res);
  });
}

// ---- HTTP -------------------------------------------------------------------

class HttpError extends Error {
  /** EXTRA goes into the JSON body beside `error`; HEADERS into the response. */
  constructor(status, message, extra = {}, headers = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
    this.headers = headers;
  }
}

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * The request's JSON body: 413 past MAX_BODY bytes, 400 if it does not parse.
 * Past the limit the rest is read and dropped, not left unread, so that the
 * client (still sending) gets the 413 rather than a broken pipe.
 */
function readJson(req) {
  const tooBig = () => new HttpError(413, `request body over ${MAX_BODY} bytes`);
  if (Number(req.headers['content-length']) > MAX_BODY) return Promise.reject(tooBig());
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      if (size > MAX_BODY) return;
      size += chunk.length;
      if (size <= MAX_BODY) return chunks.push(chunk);
      chunks.length = 0;
      reject(tooBig());
    });
    req.on('end', () => {
      if (size > MAX_BODY) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        reject(new HttpError(400, `bad JSON: ${err.message}`));
      }
    });
    req.on('error', reject);
  });
}

/** A job's options from a POST body: the options themselves, or {args: [...]}. */
function optionsOf(body) {
  if (body !== null && typeof body === 'object' && !Array.isArray(body) && 'args' in body) {
    const { args, ...rest } = body;
    if (Object.keys(rest).length > 0) throw new HttpError(400, `"args" goes alone, not with ${Object.keys(rest).join(', ')}`);
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw new HttpError(400, '"args" must be an array of strings');
    try {
      return optionsFromArgs(args);
    } catch (err) {
      // A ConfigError: one line, as `v2v` prints it (zod's issues in its cause, if any).
      throw new HttpError(400, err.message, Array.isArray(err.cause?.issues) ? { issues: err.cause.issues } : {});
    }
  }
  const r = JobOptions.safeParse(body);
  if (!r.success) throw new HttpError(400, 'invalid job options', { issues: r.error.issues });
  return r.data;
}

async function route(req, res) {
  const { pathname } = new URL(req.url ?? '/', 'http://127.0.0.1');
  const parts = pathname.split('/').filter(Boolean);
  if (parts[0] !== 'jobs' || parts.length > 3 || (parts.length === 3 && parts[2] !== 'events')) throw new HttpError(404, 'not found');
  const allow = (...methods) => {
    if (!methods.includes(req.method)) throw new HttpError(405, `${req.method} not allowed`, {}, { Allow: methods.join(', ') });
  };

  if (parts.length === 1) {
    allow('GET', 'POST');
    if (req.method === 'GET') return send(res, 200, [...jobs.values()].map(({ id, status }) => ({ id, status })));
    const options = optionsOf(await readJson(req));
    if (shuttingDown) throw new HttpError(503, 'shutting down');
    const job = startJob(options);
    return send(res, 201, { id: job.id }, { Location: `/jobs/${job.id}` });
  }

  const job = jobs.get(parts[1]);
  if (!job) throw new HttpError(404, `no job ${parts[1]}`);
  if (parts.length === 3) {
    allow('GET');
    return streamEvents(req, res, job);
  }
  allow('GET', 'DELETE');
  if (req.method === 'GET') return send(res, 200, view(job));
  if (job.status !== 'running') throw new HttpError(409, `job already ${job.status}`);
  job.abort.abort();
  return send(res, 202, { id: job.id, status: job.status });
}

/**
 * Read and drop the rest of a request body we will not use, for at most
 * MS: a client still sending when the connection closes gets a broken pipe
 * instead of our answer.
 */
function drain(req, ms) {
  if (req.complete) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    req.on('end', done).on('close', done).on('error', done).resume();
  });
}

const server = http.createServer((req, res) => {
  route(req, res).catch(async (err) => {
    const status = err instanceof HttpError ? err.status : 500;
    if (!(err instanceof HttpError)) console.error(err);
    if (res.headersSent) return res.destroy();
    // A body left unread (413, or an error before reading it) ends the connection.
    const close = req.complete ? {} : { Connection: 'close' };
    await drain(req, 5000);
    send(res, status, { error: err.message, ...(err.extra ?? {}) }, { ...(err.headers ?? {}), ...close });
  });
});

// ---- start and stop ---------------------------------------------------------

function portFrom(text) {
  const port = Number(text);
  if (!/^\d+$/.test(String(text)) || port > 65535) {
    console.error(`server: bad port ${JSON.stringify(text)} (expected 0-65535; 0 picks a free one)`);
    process.exit(2);
  }
  return port;
}

server.listen(portFrom(process.argv[2] ?? process.env.PORT ?? '8080'), '127.0.0.1', () => {
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  console.log(`listening on http://127.0.0.1:${port}`);
});
server.on('error', (err) => {
  console.error(`server: ${err.message}`);
  process.exit(1);
});

async function shutdown(signal) {
  if (shuttingDown) {
    console.error(`server: ${signal} again, exiting at once`);
    process.exit(1);
  }
  shuttingDown = true;
  console.log(`${signal}: cancelling ${[...jobs.values()].filter((j) => j.status === 'running').length} running job(s)`);
  const closed = new Promise((resolve) => server.close(resolve)); // no new connections
  await engine.close(); // cancels every running job and waits for its cleanup
  // The jobs' `end` events have been written and their streams ended: close
  // the connections that are now idle, give the others a moment to finish
  // their response, then drop whatever is still open.
  server.closeIdleConnections();
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
