// Loads an unmodified official SDK bundle in Node with the browser shims of
// shared/reference/sdk-behaviour.md §4, and helpers to drive it against a Qun server.
'use strict';

const path = require('node:path');

function installBrowserShims() {
  if (globalThis.__qunShims) return;
  globalThis.__qunShims = true;
  globalThis.self = globalThis.window = globalThis;
  const WS = require('ws');
  globalThis.__qunSockets = [];
  // `globalThis.__qunFrameTap(direction, socket, data)`, when set, sees every websocket frame
  // ('up' or 'down'); client.js uses it to see the login's UNREAD reply and for QUN_TRACE.
  globalThis.WebSocket = class extends WS {
    constructor(url, ...rest) {
      globalThis.__qunSockets.push(String(url));
      super(url, ...rest);
      this.addEventListener('message', (event) => globalThis.__qunFrameTap?.('down', this, event.data));
    }

    send(data, ...rest) {
      globalThis.__qunFrameTap?.('up', this, data);
      return super.send(data, ...rest);
    }
  };
  globalThis.XMLHttpRequest = browserXhr(require('xhr2'));
  const store = new Map();
  globalThis.localStorage = {
    getItem: (k) => (store.has(k) ? store.get(k) : null),
    setItem: (k, v) => store.set(k, String(v)),
    removeItem: (k) => store.delete(k),
    clear: () => store.clear(),
  };
  globalThis.document = { hidden: false, addEventListener() {}, removeEventListener() {} };
  // Window listeners are kept so a test process can fire `beforeunload` at its end: the
  // bundle's event-report module starts a 60 s `setInterval` that only a `beforeunload`
  // listener clears, and that interval would keep Node's event loop alive.
  const listeners = new Map();
  globalThis.addEventListener = (name, fn) => {
    if (!listeners.has(name)) listeners.set(name, new Set());
    listeners.get(name).add(fn);
  };
  globalThis.removeEventListener = (name, fn) => listeners.get(name)?.delete(fn);
  globalThis.__qunWindowListeners = listeners;
  // Every HTTP request the SDK makes is recorded, so tests can check it talks to nobody but
  // the configured server.
  const open = globalThis.XMLHttpRequest.prototype.open;
  globalThis.__qunRequests = [];
  globalThis.XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    globalThis.__qunRequests.push({ method, url: String(url) });
    return open.call(this, method, url, ...rest);
  };
  if (!globalThis.navigator) {
    Object.defineProperty(globalThis, 'navigator', { value: { userAgent: 'node', onLine: true }, configurable: true });
  }
}

/**
 * xhr2 with the two things a browser's XMLHttpRequest does that the SDK's file calls need:
 * `send(FormData)` (uploads: xhr2 sends only strings and buffers, so Node's own multipart
 * encoder, `new Response(formData)`, makes the body and its boundary) and
 * `responseType = 'blob'` (downloads: xhr2 would decode the bytes as text).
 */
function browserXhr(Xhr2) {
  return class BrowserXhr extends Xhr2 {
    send(data) {
      if (!(data instanceof FormData)) return super.send(data);
      const encoded = new Response(data);
      encoded.arrayBuffer().then(
        (body) => {
          this.setRequestHeader('Content-Type', encoded.headers.get('content-type'));
          super.send(Buffer.from(body));
        },
        (error) => this.dispatchEvent({ type: 'error', error }),
      );
      return undefined;
    }

    // xhr2's hook that turns the received chunks into `response` (an internal of xhr2 0.2.1).
    _parseResponse() {
      if (this.responseType !== 'blob') return super._parseResponse();
      const bytes = Buffer.concat(this._responseParts);
      this._responseParts = null;
      this.response = new Blob([bytes], { type: this.getResponseHeader('content-type') ?? '' });
      return undefined;
    }
  };
}

/** The SDK module for `flavour` ("agora" → agora-chat@1.4.0, "easemob" → easemob-websdk@4.21.1). */
function loadSdk(flavour) {
  installBrowserShims();
  const file = flavour === 'easemob' ? 'easemob-websdk/Easemob-chat.js' : 'agora-chat/Agora-chat.js';
  const sdk = require(path.join(__dirname, '..', 'node_modules', file));
  return sdk.default || sdk;
}

/** Which SDK the suite runs on: QUN_SDK=agora|easemob (default agora). */
function sdkFlavour() {
  return process.env.QUN_SDK === 'easemob' ? 'easemob' : 'agora';
}

/** Fires a window event (e.g. `beforeunload`) at the listeners the SDK registered. */
function dispatchWindowEvent(name) {
  for (const fn of [...(globalThis.__qunWindowListeners?.get(name) ?? [])]) {
    try {
      fn({ type: name });
    } catch {
      // a listener of a closed connection may throw; the page is going away anyway
    }
  }
}

/** Every `XMLHttpRequest.open` the SDK made so far (`{method, url}`), and every websocket URL. */
function sdkRequests() {
  return { http: globalThis.__qunRequests ?? [], websockets: globalThis.__qunSockets ?? [] };
}

module.exports = { loadSdk, sdkFlavour, installBrowserShims, dispatchWindowEvent, sdkRequests };
