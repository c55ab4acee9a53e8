// 1:1 read, delivery and conversation (channel) acknowledgements reach the peer as the SDK's
// receipt callbacks — never as chat messages, never in history — and group read receipts,
// which Qun does not serve yet, are refused with the SDK's errors. (Recall and edit:
// recall.test.js.)
'use strict';

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { setup, SDK, BARRIER_OWNER } = require('../lib/client');

const env = setup();

let alice;
let bob;

before(async () => {
  const [a, b] = await env.users('alice', 'bob');
  alice = await env.connect(a);
  bob = await env.connect(b);
});

const sendText = (from, to, msg, chatType = 'singleChat') =>
  from.conn.send(SDK.message.create({ type: 'txt', chatType, to, msg }));

/**
 * Sends an ack of `kind` ('read', 'delivery', 'channel') for message `id` from `from` to `to`.
 * The SDK takes the acked id as `id` for a read ack and as `ackId` for a delivery ack.
 */
const sendAck = (from, to, kind, id) => {
  const acked = kind === 'delivery' ? { ackId: id } : id ? { id } : {};
  return from.conn.send(SDK.message.create({ type: kind, chatType: 'singleChat', to, ...acked }));
};

/** No chat message of any kind arrived at `client` but those with ids in `expected` (and barriers). */
function assertOnlyMessages(client, expected) {
  const names = ['onTextMessage', 'onCustomMessage', 'onCmdMessage', 'onImageMessage', 'onFileMessage'];
  const ids = client.events
    .filter((e) => names.includes(e.name) && e.data.from !== BARRIER_OWNER)
    .map((e) => e.data.id);
  assert.deepEqual(ids.sort(), [...expected].sort());
}

const refusal = (promise) =>
  promise.then(
    (sent) => assert.fail(`resolved with ${JSON.stringify(sent)}`),
    (error) => error,
  );

test('a read ack reaches the sender as onReadMessage, not as a message', async () => {
  const sent = await sendText(alice, bob.user, 'please read');
  await bob.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
  const ack = await sendAck(bob, alice.user, 'read', sent.serverMsgId);
  assert.match(ack.serverMsgId, /^\d+$/);
  const read = await alice.waitFor((e) => e.name === 'onReadMessage', 5000, 'onReadMessage').then((e) => e.data);
  assert.equal(read.mid, sent.serverMsgId);
  assert.equal(read.from, bob.user);
  assert.equal(read.to, alice.user);
  assert.equal(read.type, 'read');
  await env.barrier([alice, bob]);
  assertOnlyMessages(alice, []);
  assertOnlyMessages(bob, [sent.serverMsgId]);
  assert.equal(bob.received('onReadMessage').length, 0, 'the reader does not get its own ack');
});

test('a channel ack reaches the peer as onChannelMessage', async () => {
  await sendAck(bob, alice.user, 'channel');
  const channel = await alice.waitFor((e) => e.name === 'onChannelMessage', 5000, 'onChannelMessage').then((e) => e.data);
  assert.equal(channel.from, bob.user);
  assert.equal(channel.to, alice.user);
  assert.equal(channel.chatType, 'singleChat');
  await env.barrier([alice, bob]);
  assertOnlyMessages(alice, []);
});

test('with delivery: true the SDK acks every 1:1 message, and the sender gets onDeliveredMessage', async () => {
  const [carol] = await env.users('carol');
  const receiver = await env.connect(carol, { delivery: true });
  const sent = await sendText(alice, receiver.user, 'was this delivered?');
  await receiver.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
  const delivered = await alice
    .waitFor((e) => e.name === 'onDeliveredMessage' && e.data.mid === sent.serverMsgId, 5000, 'onDeliveredMessage')
    .then((e) => e.data);
  assert.equal(delivered.from, receiver.user);
  assert.equal(delivered.type, 'delivery');
  await env.barrier([alice, receiver]);
  assertOnlyMessages(alice, []);
  assertOnlyMessages(receiver, [sent.serverMsgId]);
});

test('an ack sent while its receiver is offline arrives at their next login; history holds messages only', async () => {
  const [dave, erin] = await env.users('dave', 'erin');
  let sender = await env.connect(dave);
  const reader = await env.connect(erin);
  const sent = await sendText(sender, erin, 'read me later');
  await reader.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
  await sender.close();
  await sendAck(reader, dave, 'read', sent.serverMsgId);
  await sendAck(reader, dave, 'delivery', sent.serverMsgId);
  sender = await env.connect(dave);
  await sender.waitFor((e) => e.name === 'onReadMessage' && e.data.mid === sent.serverMsgId, 5000, 'onReadMessage');
  await sender.waitFor((e) => e.name === 'onDeliveredMessage' && e.data.mid === sent.serverMsgId, 5000, 'onDeliveredMessage');
  assertOnlyMessages(sender, []);
  // Neither side's history shows the acks.
  for (const [client, peer] of [
    [sender, erin],
    [reader, dave],
  ]) {
    const history = await client.conn.getHistoryMessages({ targetId: peer, chatType: 'singleChat', pageSize: 20 });
    assert.deepEqual(
      history.messages.map((m) => m.id),
      [sent.serverMsgId],
    );
  }
});

test('a group read receipt is refused cleanly, not sent as a message', async () => {
  const created = await alice.conn.createGroup({
    data: { groupname: 'acks', desc: '', members: [bob.user], public: false, approval: false, allowinvites: false, inviteNeedConfirm: false, maxusers: 10 },
  });
  const groupId = created.data.groupid;
  await bob.waitForGroupEvent('directJoined', groupId);
  const sent = await sendText(alice, groupId, 'group text', 'groupChat');
  await bob.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
  const ack = SDK.message.create({ type: 'read', chatType: 'groupChat', to: groupId, id: sent.serverMsgId });
  const error = await refusal(bob.conn.send(ack));
  assert.ok(error.type !== undefined, `a typed SDK error: ${JSON.stringify(error)}`);
  await env.barrier([alice, bob], [groupId]);
  assertOnlyMessages(alice, []);
});
