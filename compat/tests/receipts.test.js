// 1:1 read, delivery and conversation (channel) acknowledgements reach the peer as the SDK's
// receipt callbacks — never as chat messages, never in history. Group read receipts (allowGroupAck)
// reach the sender with the read count; conversation acks clear the conversation on the reader's
// other devices. (Recall and edit: recall.test.js.)
'use strict';

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { setup, SDK, createGroup, BARRIER_OWNER } = require('../lib/client');

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

const sendGroupText = (from, groupId, msg, allowGroupAck) =>
  from.conn.send(
    SDK.message.create({ type: 'txt', chatType: 'groupChat', to: groupId, msg, ...(allowGroupAck ? { msgConfig: { allowGroupAck: true } } : {}) }),
  );

const sendGroupRead = (from, groupId, id, ackContent) =>
  from.conn.send(SDK.message.create({ type: 'read', chatType: 'groupChat', to: groupId, id, ackContent }));

test('group read receipts: the sender gets onReadMessage with the read count, and lists the readers', async () => {
  const [carolName] = await env.users('carol');
  const carol = await env.connect(carolName);
  const groupId = await createGroup(alice, [bob, carol]);
  const sent = await sendGroupText(alice, groupId, 'who read this?', true);
  await bob.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
  const received = bob.received('onTextMessage', (m) => m.id === sent.serverMsgId)[0];
  assert.equal(received.msgConfig?.allowGroupAck, true, 'the receivers see that receipts are asked for');

  const ack = await sendGroupRead(bob, groupId, sent.serverMsgId, 'seen by bob');
  assert.match(ack.serverMsgId, /^\d+$/);
  const first = await alice
    .waitFor((e) => e.name === 'onReadMessage' && e.data.mid === sent.serverMsgId, 5000, 'onReadMessage')
    .then((e) => e.data);
  assert.equal(first.from, bob.user);
  assert.equal(first.to, groupId);
  assert.equal(first.groupReadCount, 1);
  assert.equal(first.ackContent, 'seen by bob');

  await sendGroupRead(carol, groupId, sent.serverMsgId);
  const reads = await alice.waitForCount('onReadMessage', 2, (r) => r.mid === sent.serverMsgId);
  assert.equal(reads[1].from, carol.user);
  assert.equal(reads[1].groupReadCount, 2);

  // A reader's second receipt is accepted and counts nothing.
  await sendGroupRead(bob, groupId, sent.serverMsgId);
  await env.barrier([alice, bob, carol], [groupId]);
  assert.equal(alice.received('onReadMessage', (r) => r.mid === sent.serverMsgId).length, 2);
  // Receipts are for the sender: no member hears of them, and none is a message.
  for (const member of [bob, carol]) assert.equal(member.received('onReadMessage').length, 0, member.user);
  assertOnlyMessages(alice, []);

  const readers = await alice.conn.getGroupMsgReadUser({ groupId, msgId: sent.serverMsgId });
  assert.equal(readers.data.ackmid, sent.serverMsgId);
  assert.equal(readers.data.total, 2);
  assert.deepEqual(readers.data.userlist, [bob.user, carol.user]);
  assert.equal(readers.data.is_last, true);

  // Only the sender sees who read it.
  await refusal(bob.conn.getGroupMsgReadUser({ groupId, msgId: sent.serverMsgId }));
});

test('a group read receipt for a message sent without allowGroupAck is refused, and nobody hears of it', async () => {
  const groupId = await createGroup(alice, [bob], 'no acks');
  const sent = await sendGroupText(alice, groupId, 'no receipts asked', false);
  await bob.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
  const error = await refusal(sendGroupRead(bob, groupId, sent.serverMsgId));
  assert.ok(error.type !== undefined, `a typed SDK error: ${JSON.stringify(error)}`);
  // Nor for a message that is not there, nor as a delivery ack (1:1 only).
  await refusal(sendGroupRead(bob, groupId, '1234567890'));
  const delivery = SDK.message.create({ type: 'delivery', chatType: 'groupChat', to: groupId, ackId: sent.serverMsgId });
  await refusal(bob.conn.send(delivery));
  await env.barrier([alice, bob], [groupId]);
  assert.equal(alice.received('onReadMessage', (r) => r.mid === sent.serverMsgId).length, 0);
  assertOnlyMessages(alice, []);
});

/**
 * The conversation ack's multi-device part: `reader` reads on one device while another of its
 * devices is offline; the other device, back, counts nothing unread there, is not sent what was
 * read, and hears of the ack (onChannelMessage from the reader).
 */
async function readOnOneDeviceThenLogInOnAnother({ readerName, writerClient, conversation, chatType, sendOne }) {
  const phone = await env.connect(readerName, { deviceId: `${readerName}-phone` });
  // The tablet reads once (so the server knows the device), then goes offline.
  let tablet = await env.connect(readerName, { deviceId: `${readerName}-tablet` });
  const early = await sendOne('before');
  await tablet.waitFor((e) => e.name === 'onTextMessage' && e.data.id === early.serverMsgId);
  await phone.waitFor((e) => e.name === 'onTextMessage' && e.data.id === early.serverMsgId);
  // The SDK acknowledges a batch with its next pull, right after handling it; the server
  // saves the tablet's position when it leaves.
  await new Promise((resolve) => setTimeout(resolve, 300));
  await tablet.close();

  const unread = [];
  for (const text of ['one', 'two', 'three']) unread.push((await sendOne(text)).serverMsgId);
  for (const id of unread) await phone.waitFor((e) => e.name === 'onTextMessage' && e.data.id === id);
  const ack = SDK.message.create({ type: 'channel', chatType, to: conversation });
  await phone.conn.send(ack);

  tablet = await env.connect(readerName, { deviceId: `${readerName}-tablet` });
  const channel = await tablet.waitFor((e) => e.name === 'onChannelMessage', 5000, 'onChannelMessage').then((e) => e.data);
  assert.equal(channel.from, readerName);
  assert.equal(channel.to, conversation);
  await tablet.synced();
  const loginUnread = tablet.received('__loginUnread')[0];
  assert.equal(loginUnread.queues, 1, 'only the personal queue (the ack) is unread on the tablet');
  // One client per user in the barrier (a group's member list has each user once); the phone
  // gets the same personal marker.
  const marker = await env.barrier([tablet, writerClient], chatType === 'groupChat' ? [conversation] : []);
  await phone.waitForGroupEvent('directJoined', marker);
  assert.deepEqual(
    tablet.received('onTextMessage').filter((m) => m.from !== BARRIER_OWNER).map((m) => m.id),
    [],
    'what was read elsewhere is not sent again',
  );
  assert.equal(phone.received('onChannelMessage').length, 0, 'the device that sent the ack does not get it back');
  return { phone, tablet };
}

test('a 1:1 channel ack reaches the peer and clears the conversation on the reader’s other devices', async () => {
  const [readerName, writerName] = await env.users('reader', 'writer');
  const writer = await env.connect(writerName);
  await readOnOneDeviceThenLogInOnAnother({
    readerName,
    writerClient: writer,
    conversation: writerName,
    chatType: 'singleChat',
    sendOne: (text) => sendText(writer, readerName, text),
  });
  const channel = await writer.waitFor((e) => e.name === 'onChannelMessage', 5000, 'onChannelMessage').then((e) => e.data);
  assert.equal(channel.from, readerName);
});

test('a group channel ack clears the group on the reader’s other devices and tells no member', async () => {
  const [readerName] = await env.users('greader');
  const reader = await env.connect(readerName, { deviceId: `${readerName}-setup` });
  const groupId = await createGroup(alice, [reader], 'channel');
  await reader.close();
  await readOnOneDeviceThenLogInOnAnother({
    readerName,
    writerClient: alice,
    conversation: groupId,
    chatType: 'groupChat',
    sendOne: (text) => sendGroupText(alice, groupId, text, false),
  });
  assert.equal(alice.received('onChannelMessage', (c) => c.from === readerName).length, 0);
});
