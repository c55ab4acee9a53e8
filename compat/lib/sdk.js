// Loads an unmodified official SDK bundle in Node with the browser shims of
// shared/reference/sdk-behaviour.md §4, and helpers to drive it against a Qun server.
'use strict';

const path = require('node:path');

function installBrowserShims() {
  if (globalThis.__qunShims) return;
  globalThis.__qunShims = true;
  globalThis.self = globalThis.window = globalThis;
  globalThis.WebSocket = require('ws');
  globalThis.XMLHttpRequest = require('xhr2');
  const store = new Map();
  globalThis.localStorage = {
    getItem: (k) => (store.has(k) ? store.get(k) : null),
    setItem: (k, v) => store.set(k, String(v)),
    removeItem: (k) => store.delete(k),
    clear: () => store.clear(),
  };
  globalThis.document = { hidden: false, addEventListener() {}, removeEventListener() {} };
  globalThis.addEventListener = () => {};
  globalThis.removeEventListener = () => {};
  if (!globalThis.navigator) {
    Object.defineProperty(globalThis, 'navigator', { value: { userAgent: 'node', onLine: true }, configurable: true });
  }
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

module.exports = { loadSdk, sdkFlavour, installBrowserShims };
