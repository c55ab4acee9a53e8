// Starts the real Qun server binary for a test file: a free port, a fresh temporary data
// dir, known client credentials; and REST helpers that act as the app administrator.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ORG = 'qun';
const APP = 'demo';
const APP_KEY = `${ORG}#${APP}`;
const CLIENT_ID = 'compat-client-id';
const CLIENT_SECRET = 'compat-client-secret-0123456789';
/** The password every test user gets. */
const PASSWORD = 'secret-pw-1';

function binaryPath() {
  return path.resolve(__dirname, '..', process.env.QUN_BIN || '../target/debug/qun');
}

/** A port nobody listens on right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class QunServer {
  constructor(child, port, dataDir, output) {
    this.child = child;
    this.port = port;
    this.dataDir = dataDir;
    this.output = output;
    this.base = `http://127.0.0.1:${port}`;
    this.apiUrl = this.base;
    this.wsUrl = `ws://127.0.0.1:${port}/websocket`;
    this.appKey = APP_KEY;
    this.appToken = null;
  }

  /** `fetch` on `/{org}/{app}{path}` with the app token; resolves `{status, body}`. */
  async rest(method, restPath, body, token = this.appToken) {
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(`${this.base}/${ORG}/${APP}${restPath}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: response.status, body: json };
  }

  /** Like `rest`, but throws unless the reply is 200. */
  async restOk(method, restPath, body, token) {
    const reply = await this.rest(method, restPath, body, token);
    if (reply.status !== 200) {
      throw new Error(`${method} ${restPath} → ${reply.status} ${JSON.stringify(reply.body)}`);
    }
    return reply.body;
  }

  /** Registers users (all with PASSWORD) as the app administrator. */
  async createUsers(...names) {
    await this.restOk('POST', '/users', names.map((username) => ({ username, password: PASSWORD })));
    return names;
  }

  /** A user token from the password grant. */
  async userToken(username, password = PASSWORD) {
    const body = await this.restOk('POST', '/token', { grant_type: 'password', username, password });
    return body.access_token;
  }

  /** Stops the server and removes its data dir. */
  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Starts a server and waits until GET /health answers; gets the app token. */
async function startServer() {
  const bin = binaryPath();
  if (!fs.existsSync(bin)) {
    throw new Error(`no server binary at ${bin}: build it (cargo build -p qun-server --bin qun) or set QUN_BIN`);
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qun-compat-'));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const output = [];
    const child = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], {
      env: {
        ...process.env,
        QUN_CLIENT_ID: CLIENT_ID,
        QUN_CLIENT_SECRET: CLIENT_SECRET,
        QUN_APPKEY: APP_KEY,
        RUST_LOG: process.env.RUST_LOG || 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk) => {
      output.push(chunk.toString());
      if (output.length > 200) output.shift();
      if (process.env.QUN_SERVER_LOG) process.stderr.write(chunk);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const server = new QunServer(child, port, dataDir, output);
    const deadline = Date.now() + 15000;
    let healthy = false;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const response = await fetch(`${server.base}/health`);
        if (response.ok) {
          healthy = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await sleep(25);
    }
    if (!healthy) {
      await server.stop().catch(() => {});
      // The port may have been taken between probing and binding: try another.
      if (attempt < 2) {
        fs.mkdirSync(dataDir, { recursive: true });
        continue;
      }
      throw new Error(`the server did not become healthy:\n${output.join('')}`);
    }
    const token = await server.restOk('POST', '/token', {
      grant_type: 'client_credentials',
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
    });
    server.appToken = token.access_token;
    return server;
  }
}

module.exports = { startServer, APP_KEY, PASSWORD, sleep };
