// Group text and custom messages through the SDK, both ways, with `ext` of every type the SDK
// encodes; checked on the receiving side.
'use strict';

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { setup, sendGroupText, sendGroupCustom, statusCode } = require('../lib/client');

const env = setup();

/**
 * `ext` values of each wire type the SDK uses: STRING, INT (also negative and beyond 32
 * bits), DOUBLE, BOOL, JSON_STRING (objects, arrays, null, nesting), the empty string,
 * unicode.
 */
const EXT = {
  text: 'hello',
  empty: '',
  unicode: '群聊 ✓ émoji 🎉',
  int: 42,
  zero: 0,
  negative: -7,
  big: 2 ** 40 + 3,
  double: 3.25,
  yes: true,
  no: false,
  object: { a: 1, nested: { b: ['x', 2, null] } },
  array: [1, 'two', { three: 3 }],
  nothing: null,
};

let alice;
let bob;
let carol;
let groupId;

before(async () => {
  const names = await env.users('alice', 'bob', 'carol');
  [alice, bob, carol] = await Promise.all(names.map((n) => env.connect(n)));
  const created = await alice.conn.createGroup({
    data: {
      groupname: 'messages',
      desc: '',
      members: [bob.user, carol.user],
      public: false,
      approval: false,
      allowinvites: false,
      inviteNeedConfirm: false,
      maxusers: 200,
    },
  });
  groupId = created.data.groupid;
  await Promise.all([bob, carol].map((c) => c.waitForGroupEvent('directJoined', groupId)));
});

/** Waits for `client`'s callback `name` carrying message `id`. */
const receive = (client, name, id) =>
  client.waitFor((e) => e.name === name && e.data.id === id, 5000, `${name} ${id}`).then((e) => e.data);

test('a group text with ext reaches the other members as onTextMessage', async () => {
  const sent = await sendGroupText(alice, groupId, 'text with ext', EXT);
  assert.match(sent.serverMsgId, /^\d+$/);
  for (const client of [bob, carol]) {
    const message = await receive(client, 'onTextMessage', sent.serverMsgId);
    assert.equal(message.type, 'txt');
    assert.equal(message.chatType, 'groupChat');
    assert.equal(message.from, alice.user);
    assert.equal(message.to, groupId);
    assert.equal(message.msg, 'text with ext');
    assert.deepEqual(message.ext, EXT);
    assert.equal(message.time, sent.message.time);
  }
  // The sender's own device does not get its message back.
  await env.barrier([alice, bob, carol], [groupId]);
  assert.equal(alice.received('onTextMessage', (m) => m.id === sent.serverMsgId).length, 0);
  assert.equal(bob.received('onTextMessage', (m) => m.id === sent.serverMsgId).length, 1);
});

test('a group custom message with customExts and ext goes the other way', async () => {
  const customExts = { color: 'red', size: 'L' };
  const ext = { orderId: 12345, paid: true, amount: 9.99, meta: { sku: 'A-1' } };
  const sent = await sendGroupCustom(bob, groupId, 'order', customExts, ext);
  for (const client of [alice, carol]) {
    const message = await receive(client, 'onCustomMessage', sent.serverMsgId);
    assert.equal(message.type, 'custom');
    assert.equal(message.chatType, 'groupChat');
    assert.equal(message.from, bob.user);
    assert.equal(message.to, groupId);
    assert.equal(message.customEvent, 'order');
    assert.deepEqual(message.customExts, customExts);
    assert.deepEqual(message.ext, ext);
  }
  await env.barrier([bob], [groupId]);
  assert.equal(bob.received('onCustomMessage', (m) => m.id === sent.serverMsgId).length, 0);
});

test('text without ext, and replies both ways in order', async () => {
  const first = await sendGroupText(carol, groupId, 'one');
  const second = await sendGroupText(alice, groupId, 'two', { n: 2 });
  const third = await sendGroupText(carol, groupId, 'three', { n: 3 });
  const atBob = await bob.waitForCount('onTextMessage', 3, (m) => [first, second, third].some((s) => s.serverMsgId === m.id));
  assert.deepEqual(
    atBob.map((m) => [m.msg, m.from]),
    [
      ['one', carol.user],
      ['two', alice.user],
      ['three', carol.user],
    ],
  );
  assert.deepEqual(atBob[0].ext ?? {}, {});
  const atAlice = await alice.waitForCount('onTextMessage', 2, (m) => [first, third].some((s) => s.serverMsgId === m.id));
  assert.deepEqual(
    atAlice.map((m) => m.msg),
    ['one', 'three'],
  );
});

test('a message sent by the app admin over REST carries its ext to SDK members', async () => {
  const ext = { source: 'rest', count: 3, ok: true, ratio: 0.5, data: { k: ['v'] } };
  const reply = await env.server.restOk('POST', '/messages/chatgroups', {
    from: alice.user,
    to: [groupId],
    type: 'txt',
    body: { msg: 'from the server' },
    ext,
  });
  const id = reply.data[groupId];
  for (const client of [bob, carol]) {
    const message = await receive(client, 'onTextMessage', id);
    assert.equal(message.from, alice.user);
    assert.equal(message.to, groupId);
    assert.equal(message.chatType, 'groupChat');
    assert.equal(message.msg, 'from the server');
    assert.deepEqual(message.ext, ext);
  }
  // Alice's device did not send it, so Alice's device receives it too.
  const atAlice = await receive(alice, 'onTextMessage', id);
  assert.deepEqual(atAlice.ext, ext);
});

/** `send()`'s rejection (it must not resolve). */
const refusal = (promise) =>
  promise.then(
    (sent) => assert.fail(`send() resolved with ${sent.serverMsgId}`),
    (error) => error,
  );

test('sends outside one’s groups are refused with the SDK’s group errors', async () => {
  const [outsiderName] = await env.users('outsider');
  const outsider = await env.connect(outsiderName);
  // FAIL(1) "not in group or chatroom" → GROUP_NOT_JOINED.
  const notJoined = await refusal(sendGroupText(outsider, groupId, 'let me speak'));
  assert.equal(notJoined.type, statusCode.GROUP_NOT_JOINED);
  // FAIL(1) "group not found" → GROUP_NOT_EXIST.
  const missing = await refusal(sendGroupText(outsider, '123456789', 'anyone there'));
  assert.equal(missing.type, statusCode.GROUP_NOT_EXIST);
  await env.barrier([bob], [groupId]);
  assert.equal(bob.received('onTextMessage', (m) => m.msg === 'let me speak').length, 0);
});
