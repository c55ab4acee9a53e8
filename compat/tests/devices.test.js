// The server closing a connection (same device again, a device over the limit, a password
// change, the user deleted): the SDK must hear why, tell the app once, and stay closed — not
// reconnect and kick the newer connection in turn.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { setup, statusCode } = require('../lib/client');

const env = setup();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Long enough for the SDK's reconnect (it retries within about a second) to show up. */
const RECONNECT_WINDOW_MS = 3000;

/** Every client uses the SDK's own reconnect setting, as an app would. */
const connect = (user, deviceId) => env.connect(user, { deviceId, autoReconnectNumMax: undefined });

/**
 * `client` was closed by the server with `type`: the SDK reported it once through onError and
 * onDisconnected, and did not come back.
 */
async function assertKickedOnce(client, type) {
  const disconnected = await client.waitFor((e) => e.name === 'onDisconnected', 5000, 'onDisconnected');
  assert.equal(disconnected.data?.type, type);
  await sleep(RECONNECT_WINDOW_MS);
  assert.deepEqual(
    client.received('onError').map((e) => e.type),
    [type],
  );
  assert.equal(client.received('onDisconnected').length, 1);
  assert.equal(client.received('onConnected').length, 1, 'the kicked client connected again');
  assert.equal(client.conn.isOpened(), false);
}

/** `client` is still connected and was never told to go. */
function assertUndisturbed(client) {
  assert.equal(client.conn.isOpened(), true);
  assert.deepEqual(client.received('onError'), []);
  assert.deepEqual(client.received('onDisconnected'), []);
  assert.equal(client.received('onConnected').length, 1);
}

test('the same device logging in again replaces the old connection once, without a kick loop', async () => {
  const [alice] = await env.users('alice');
  const first = await connect(alice, 'tab');
  // What the new login says about itself reaches the replaced one (`loginInfoCustomExt`).
  const second = env.client(alice, { deviceId: 'tab', autoReconnectNumMax: undefined });
  second.conn.setLoginInfoCustomExt('{"from":"the second tab"}');
  await second.open();
  await assertKickedOnce(first, statusCode.WEBIM_CONNCTION_USER_LOGIN_ANOTHER_DEVICE);
  assert.deepEqual(first.received('onError')[0].data, { loginInfoCustomExt: '{"from":"the second tab"}' });
  assertUndisturbed(second);
  // The connection that stayed works.
  const [bob] = await env.users('bob');
  const created = await env.server.restOk('POST', '/chatgroups', {
    owner: bob,
    groupname: 'still-here',
    desc: '',
    public: false,
    maxusers: 10,
    members: [alice],
  });
  await second.waitForGroupEvent('directJoined', created.data.groupid);
});

test('a fifth device replaces the oldest of four, and only it', async () => {
  const [carol] = await env.users('carol');
  const devices = [];
  for (const name of ['d1', 'd2', 'd3', 'd4']) devices.push(await connect(carol, name));
  const fifth = await connect(carol, 'd5');
  await assertKickedOnce(devices[0], statusCode.WEBIM_CONNCTION_USER_LOGIN_ANOTHER_DEVICE);
  for (const device of [...devices.slice(1), fifth]) assertUndisturbed(device);
});

test('a password change closes the user’s connections with the password-changed reason', async () => {
  const [dave] = await env.users('dave');
  const client = await connect(dave, 'phone');
  await env.server.restOk('PUT', `/users/${dave}/password`, { newpassword: 'another-pw-2' });
  await assertKickedOnce(client, statusCode.WEBIM_CONNCTION_USER_KICKED_BY_CHANGE_PASSWORD);
});

test('deleting a user closes their connections with the user-removed reason', async () => {
  const [erin] = await env.users('erin');
  const client = await connect(erin, 'phone');
  await env.server.restOk('DELETE', `/users/${erin}`);
  await assertKickedOnce(client, statusCode.WEBIM_CONNCTION_USER_REMOVED);
});
