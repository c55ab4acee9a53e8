// Login through the official SDK: password, token, and refusals.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { setup, statusCode } = require('../lib/client');
const { sdkRequests } = require('../lib/sdk');
const { PASSWORD } = require('../lib/server');

const env = setup();

test('password login: open({user, pwd}) resolves with a token and fires onConnected', async () => {
  const [alice] = await env.users('alice');
  const client = env.client(alice);
  const result = await client.open();
  assert.equal(typeof result.accessToken, 'string');
  assert.ok(result.accessToken.length > 0);
  assert.ok(client.conn.isOpened());
  await client.waitFor((e) => e.name === 'onConnected');
  // The token the SDK got works for REST as this user.
  const me = await env.server.restOk('GET', `/users/${alice}`, undefined, result.accessToken);
  assert.equal(me.entities[0].username, alice);
});

test('token login: open({user, accessToken}) with a token from the password grant', async () => {
  const [bob] = await env.users('bob');
  const token = await env.server.userToken(bob);
  const client = env.client(bob);
  await client.open({ accessToken: token });
  assert.ok(client.conn.isOpened());
  await client.waitFor((e) => e.name === 'onConnected');
});

// The SDK turns the token endpoint's 400 {error: "invalid_grant", error_description:
// "invalid password"} into WEBIM_CONNCTION_OPEN_ERROR with the description as the message
// (and does not retry: it stops on the exact text "invalid password").
test('a wrong password is rejected with the SDK open error carrying "invalid password"', async () => {
  const [carol] = await env.users('carol');
  const client = env.client(carol);
  const error = await client.open({ pwd: 'not-the-password' }).then(
    () => assert.fail('open() resolved'),
    (e) => e,
  );
  assert.equal(error.type, statusCode.WEBIM_CONNCTION_OPEN_ERROR);
  assert.equal(error.message, 'invalid password');
  assert.equal(error.data?.extraInfo?.httpCode, 400);
  assert.equal(client.conn.isOpened(), false);
  assert.equal(client.received('onConnected').length, 0);
});

// PROVISION refused with UNAUTHORIZED: the SDK rejects open() with WEBIM_CONNCTION_AUTH_ERROR
// "Auth failed" (it matches reason strings only under FAIL) and fires onError.
test('an unknown token is refused at the websocket login', async () => {
  const [dave] = await env.users('dave');
  const client = env.client(dave);
  const error = await client.open({ accessToken: 'not-a-token' }).then(
    () => assert.fail('open() resolved'),
    (e) => e,
  );
  assert.equal(error.type, statusCode.WEBIM_CONNCTION_AUTH_ERROR);
  assert.equal(client.received('onError')[0]?.type, statusCode.WEBIM_CONNCTION_AUTH_ERROR);
  assert.equal(client.received('onConnected').length, 0);
});

test('the SDK talks to nobody but the configured server', () => {
  const { http, websockets } = sdkRequests();
  assert.ok(http.length > 0 && websockets.length > 0);
  for (const { url } of http) assert.ok(url.startsWith(env.server.apiUrl + '/'), url);
  for (const url of websockets) assert.equal(url, env.server.wsUrl);
});

// renewToken asks GET /sdk/users/{me}/token/expires (with the new token) and re-arms its expiry
// timers from the reply's top-level `expire_timestamp` (absolute ms).
test('renewToken keeps the connection alive past the old token’s expiry', async () => {
  const [frank] = await env.users('frank');
  const short = await env.server.restOk('POST', '/token', { grant_type: 'password', username: frank, password: PASSWORD, ttl: 3 });
  const client = env.client(frank);
  await client.open({ accessToken: short.access_token });
  const renewed = await env.server.userToken(frank);
  const before = Date.now();
  const result = await client.conn.renewToken(renewed);
  assert.equal(result.status, true);
  assert.ok(result.expire > before + 60_000, `the new expiry ${result.expire} is the new token's`);
  // Past the first token's expiry (3 s) the connection is still up and works.
  await new Promise((resolve) => setTimeout(resolve, 4000));
  assert.deepEqual(client.received('onTokenExpired'), []);
  assert.deepEqual(client.received('onDisconnected'), []);
  assert.ok(client.conn.isOpened());
  const created = await client.conn.createGroup({
    data: { groupname: 'after renewal', desc: '', members: [], public: false, approval: false, allowinvites: false, inviteNeedConfirm: false, maxusers: 10 },
  });
  assert.match(created.data.groupid, /^\d+$/);
});
