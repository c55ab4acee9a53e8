// Recall and modify: the sender's recallMessage / modifyMessage (1:1 and group), the app
// administrator's REST recall, what receivers get live and at their next login
// (onRecallMessage, onModifiedMessage), what history shows afterwards, and the SDK's errors.
'use strict';

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { setup, SDK, statusCode } = require('../lib/client');
const { sleep } = require('../lib/server');

const env = setup();

let alice;
let bob;
let groupId;

before(async () => {
  const [a, b] = await env.users('alice', 'bob');
  alice = await env.connect(a);
  bob = await env.connect(b);
  const created = await alice.conn.createGroup({
    data: { groupname: 'recalls', desc: '', members: [bob.user], public: false, approval: false, allowinvites: false, inviteNeedConfirm: false, maxusers: 10 },
  });
  groupId = created.data.groupid;
  await bob.waitForGroupEvent('directJoined', groupId);
});

const sendText = (from, to, msg, chatType = 'singleChat') =>
  from.conn.send(SDK.message.create({ type: 'txt', chatType, to, msg }));

const refusal = (promise) =>
  promise.then(
    (sent) => assert.fail(`resolved with ${JSON.stringify(sent)}`),
    (error) => error,
  );

const history = (client, targetId, chatType = 'singleChat') =>
  client.conn.getHistoryMessages({ targetId, chatType, pageSize: 20 }).then((page) => page.messages);

const modify = (client, messageId, to, msg, chatType = 'singleChat') =>
  client.conn.modifyMessage({ messageId, modifiedMessage: SDK.message.create({ type: 'txt', chatType, to, msg }) });

test('a 1:1 recall reaches the peer as onRecallMessage with its ext, and leaves history', async () => {
  const kept = await sendText(alice, bob.user, 'kept');
  const sent = await sendText(alice, bob.user, 'oops');
  await bob.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
  await alice.conn.recallMessage({ mid: sent.serverMsgId, to: bob.user, chatType: 'singleChat', ext: 'typo' });
  const recalled = await bob.waitFor((e) => e.name === 'onRecallMessage', 5000, 'onRecallMessage').then((e) => e.data);
  assert.equal(recalled.mid, sent.serverMsgId);
  assert.equal(recalled.from, alice.user);
  assert.equal(recalled.to, bob.user);
  assert.equal(recalled.ext, 'typo');
  for (const [client, peer] of [
    [alice, bob.user],
    [bob, alice.user],
  ]) {
    assert.deepEqual((await history(client, peer)).map((m) => m.id), [kept.serverMsgId], `${client.user}'s history`);
  }
  await env.barrier([alice, bob]);
  assert.equal(alice.received('onRecallMessage').length, 0, 'the recalling connection does not get its own recall');
  assert.equal(bob.received('onRecallMessage').length, 1, 'exactly once');
});

test('a group recall reaches the members; one who had not pulled it gets the recall but never the message', async () => {
  const [carol] = await env.users('carol');
  await env.server.restOk('POST', `/chatgroups/${groupId}/users/${carol}`);
  const sent = await sendText(alice, groupId, 'group oops', 'groupChat');
  await bob.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
  await alice.conn.recallMessage({ mid: sent.serverMsgId, to: groupId, chatType: 'groupChat' });
  const recalled = await bob.waitFor((e) => e.name === 'onRecallMessage' && e.data.mid === sent.serverMsgId, 5000, 'onRecallMessage');
  assert.equal(recalled.data.to, groupId);
  // Carol logs in only now: the recall, not the message.
  const late = await env.connect(carol);
  await late.waitFor((e) => e.name === 'onRecallMessage' && e.data.mid === sent.serverMsgId, 5000, 'onRecallMessage at login');
  await env.barrier([alice, bob, late], [groupId]);
  assert.equal(late.received('onTextMessage', (m) => m.id === sent.serverMsgId).length, 0, 'the recalled message arrived');
  assert.ok(!(await history(bob, groupId, 'groupChat')).some((m) => m.id === sent.serverMsgId));
});

test('a recall reaches a peer who was offline at their next login', async () => {
  const [dave] = await env.users('dave');
  let peer = await env.connect(dave);
  const sent = await sendText(alice, dave, 'before you go');
  await peer.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
  await peer.close();
  await alice.conn.recallMessage({ mid: sent.serverMsgId, to: dave, chatType: 'singleChat' });
  peer = await env.connect(dave);
  await peer.waitFor((e) => e.name === 'onRecallMessage' && e.data.mid === sent.serverMsgId, 5000, 'onRecallMessage at login');
  await peer.synced();
  assert.equal(peer.received('onTextMessage', (m) => m.id === sent.serverMsgId).length, 0, 'the message came back');
});

test('only the sender recalls, within the app’s time limit; a recalled message is gone', async () => {
  const sent = await sendText(alice, bob.user, 'not yours');
  await bob.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
  const notSender = await refusal(bob.conn.recallMessage({ mid: sent.serverMsgId, to: alice.user, chatType: 'singleChat' }));
  assert.equal(notSender.type, statusCode.PERMISSION_DENIED);

  await env.server.restOk('PUT', '/settings/recall', { time_limit_secs: 1 });
  try {
    const old = await sendText(alice, bob.user, 'too late');
    await sleep(1500);
    const late = await refusal(alice.conn.recallMessage({ mid: old.serverMsgId, to: bob.user, chatType: 'singleChat' }));
    assert.equal(late.type, statusCode.MESSAGE_RECALL_TIME_LIMIT);
  } finally {
    await env.server.restOk('PUT', '/settings/recall', { time_limit_secs: 120 });
  }

  await alice.conn.recallMessage({ mid: sent.serverMsgId, to: bob.user, chatType: 'singleChat' });
  const again = await refusal(alice.conn.recallMessage({ mid: sent.serverMsgId, to: bob.user, chatType: 'singleChat' }));
  assert.equal(again.type, statusCode.MODIFY_MESSAGE_NOT_EXIST);
});

test('the app administrator recalls over REST at any time', async () => {
  await env.server.restOk('PUT', '/settings/recall', { time_limit_secs: 1 });
  try {
    const sent = await sendText(alice, groupId, 'admin will take this', 'groupChat');
    await bob.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
    await sleep(1200);
    const reply = await env.server.restOk('POST', '/messages/msg_recall', {
      msg_id: sent.serverMsgId,
      to: groupId,
      chat_type: 'groupchat',
    });
    assert.deepEqual(reply.data, { recalled: 'yes', chattype: 'groupchat', from: 'admin', to: groupId, msg_id: sent.serverMsgId });
    for (const client of [alice, bob]) {
      const recalled = await client.waitFor((e) => e.name === 'onRecallMessage' && e.data.mid === sent.serverMsgId, 5000, 'onRecallMessage');
      assert.equal(recalled.data.from, 'admin');
    }
    const missing = await env.server.restOk('POST', '/messages/msg_recall', { msg_id: sent.serverMsgId, to: groupId, chat_type: 'groupchat' });
    assert.deepEqual(missing.data, { msgs: [{ msg_id: sent.serverMsgId, recalled: 'not_found msg' }] });
  } finally {
    await env.server.restOk('PUT', '/settings/recall', { time_limit_secs: 120 });
  }
});

test('modifyMessage: the peer gets onModifiedMessage, history shows the edit with its count', async () => {
  const sent = await sendText(alice, bob.user, 'helo');
  await bob.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
  const edited = await modify(alice, sent.serverMsgId, bob.user, 'hello');
  assert.equal(edited.message.msg, 'hello');
  assert.equal(edited.message.id, sent.serverMsgId);
  assert.equal(edited.modifiedInfo.operationCount, 1);
  assert.equal(edited.modifiedInfo.operatorId, alice.user);
  const modified = await bob.waitFor((e) => e.name === 'onModifiedMessage', 5000, 'onModifiedMessage').then((e) => e.data);
  assert.equal(modified.id, sent.serverMsgId);
  assert.equal(modified.msg, 'hello');
  assert.equal(modified.from, alice.user);
  assert.equal(modified.chatType, 'singleChat');
  assert.equal(modified.modifiedInfo.operationCount, 1);
  await modify(alice, sent.serverMsgId, bob.user, 'hello!');
  await bob.waitForCount('onModifiedMessage', 2);
  const [shown] = (await history(bob, alice.user)).filter((m) => m.id === sent.serverMsgId);
  assert.equal(shown.msg, 'hello!');
  assert.equal(shown.modifiedInfo.operationCount, 2);
  assert.equal(shown.modifiedInfo.operatorId, alice.user);
  assert.ok(shown.modifiedInfo.operationTime >= shown.time);
  await env.barrier([alice, bob]);
  assert.equal(alice.received('onModifiedMessage').length, 0, 'the editing connection does not get its own edit');
  assert.equal(bob.received('onTextMessage', (m) => m.id === sent.serverMsgId).length, 1, 'an edit is no new message');
});

test('modifyMessage in a group reaches the members; only the sender edits, text only', async () => {
  const sent = await sendText(alice, groupId, 'grop', 'groupChat');
  await bob.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
  await modify(alice, sent.serverMsgId, groupId, 'group', 'groupChat');
  const modified = await bob.waitFor((e) => e.name === 'onModifiedMessage' && e.data.id === sent.serverMsgId, 5000, 'onModifiedMessage');
  assert.equal(modified.data.msg, 'group');
  assert.equal(modified.data.chatType, 'groupChat');
  const notSender = await refusal(modify(bob, sent.serverMsgId, groupId, 'mine now', 'groupChat'));
  assert.equal(notSender.type, statusCode.PERMISSION_DENIED);
  const custom = await alice.conn.send(SDK.message.create({ type: 'custom', chatType: 'groupChat', to: groupId, customEvent: 'e', customExts: {} }));
  const format = await refusal(modify(alice, custom.serverMsgId, groupId, 'text now', 'groupChat'));
  assert.equal(format.type, statusCode.MODIFY_MESSAGE_FORMAT_ERROR);
  const unknown = await refusal(modify(alice, '123456789', groupId, 'nothing', 'groupChat'));
  assert.equal(unknown.type, statusCode.MODIFY_MESSAGE_NOT_EXIST);
});
