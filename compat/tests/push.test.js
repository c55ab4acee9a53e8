// Group and 1:1 messages are pushed to sessions that have read everything before them (no
// NOTICE → pull round trip per message), and acknowledged by the SDK when the server asks (a
// pushed batch with `isLast: false` and a `nextKey`, which the SDK answers with a pull).
// Members who fall behind catch up by pulling and are pushed again; a connection lost in the
// middle of a stream loses nothing, and the app sees every message once.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { setup, SDK, sendGroupText, restGroup } = require('../lib/client');
const { sleep } = require('../lib/server');

const env = setup();

/** Group (or 1:1) messages the server pushed so far (its `/metrics`). */
async function pushes(kind = 'group') {
  const text = await (await fetch(`${env.server.base}/metrics`)).text();
  const found = text.match(new RegExp(`^qun_${kind}_pushes_total (\\d+)`, 'm'));
  assert.ok(found, `qun_${kind}_pushes_total is exported`);
  return Number(found[1]);
}

/**
 * How long to wait for pushed messages to be acknowledged: the server asks 250 ms after the
 * last push and the SDK answers at once; the rest is room for a loaded machine (CI runs this
 * suite beside the Rust tests).
 */
const ACKNOWLEDGED_WITHIN_MS = 1500;

const groupOf = (ownerName, memberNames) => restGroup(env.server, ownerName, memberNames, 'pushed');

/** The texts `client` received in `groupId` (barrier markers are cmd messages, not texts). */
const textsIn = (client, groupId) => client.received('onTextMessage', (m) => m.to === groupId);

async function sendTexts(owner, groupId, prefix, count) {
  const ids = [];
  for (let i = 0; i < count; i++) ids.push((await sendGroupText(owner, groupId, `${prefix} ${i}`, { i })).serverMsgId);
  return ids;
}

test('a caught-up member is pushed group messages, acknowledges them, and is not sent them again', async () => {
  const [ownerName, memberName] = await env.users('owner', 'member');
  const groupId = await groupOf(ownerName, [memberName]);
  const owner = await env.connect(ownerName);
  const member = await env.connect(memberName);
  await env.barrier([member], [groupId]);

  const before = await pushes();
  const ids = await sendTexts(owner, groupId, 'pushed', 20);
  await member.waitForCount('onTextMessage', ids.length, (m) => m.to === groupId);
  await env.barrier([member], [groupId]);
  assert.deepEqual(textsIn(member, groupId).map((m) => m.id), ids, 'each once, in order');
  assert.ok((await pushes()) - before >= ids.length, 'they were pushed, not pulled');

  // The server asks for the acknowledgement once the group has been quiet for 250 ms.
  await sleep(ACKNOWLEDGED_WITHIN_MS);
  await member.close();
  const again = await env.connect(memberName);
  await env.barrier([again], [groupId]);
  assert.deepEqual(textsIn(again, groupId), [], 'acknowledged messages came again');
});

test('a member who fell behind catches up by pulling, then is pushed again', async () => {
  const [ownerName, memberName] = await env.users('owner', 'member');
  const groupId = await groupOf(ownerName, [memberName]);
  const owner = await env.connect(ownerName);
  const first = await env.connect(memberName);
  await env.barrier([first], [groupId]);
  await first.close();

  const before = await pushes();
  const missed = await sendTexts(owner, groupId, 'missed', 30);
  assert.equal((await pushes()) - before, 0, 'nobody was online to push to');
  const member = await env.connect(memberName);
  await member.waitForCount('onTextMessage', missed.length, (m) => m.to === groupId);
  await env.barrier([member], [groupId]);

  const caughtUp = await pushes();
  const live = await sendTexts(owner, groupId, 'live', 10);
  await member.waitForCount('onTextMessage', missed.length + live.length, (m) => m.to === groupId);
  await env.barrier([member], [groupId]);
  assert.deepEqual(textsIn(member, groupId).map((m) => m.id), [...missed, ...live], 'each once, in order');
  assert.ok((await pushes()) - caughtUp >= live.length, 'once caught up, pushed');
});

test('a connection lost in the middle of a stream: the SDK reconnects and the app sees every message once', async () => {
  const [ownerName, memberName] = await env.users('owner', 'member');
  const groupId = await groupOf(ownerName, [memberName]);
  const owner = await env.connect(ownerName);
  // The SDK's own reconnect, as an app has it.
  const member = await env.connect(memberName, { autoReconnectNumMax: undefined });
  await env.barrier([member], [groupId]);

  const ids = [];
  for (let i = 0; i < 60; i++) {
    ids.push((await sendGroupText(owner, groupId, `stream ${i}`, { i })).serverMsgId);
    // The network goes away under the member a third of the way in (no close handshake).
    if (i === 20) member.conn.sock.terminate();
  }
  await member.waitFor((e) => e.name === 'onReconnecting' || e.name === 'onConnected', 5000, 'a reconnect');
  await member.waitForCount('onTextMessage', ids.length, (m) => m.to === groupId, 20000);
  await env.barrier([member], [groupId]);
  assert.deepEqual(textsIn(member, groupId).map((m) => m.id), ids, 'every message once, in order');
});

test('a caught-up peer is pushed 1:1 messages, acknowledges them, and is not sent them again', async () => {
  const [annName, benName] = await env.users('ann', 'ben');
  const ann = await env.connect(annName);
  const ben = await env.connect(benName);
  const fromAnn = (m) => m.from === annName && m.chatType === 'singleChat';
  const sendText = async (msg) => (await ann.conn.send(SDK.message.create({ type: 'txt', chatType: 'singleChat', to: benName, msg }))).serverMsgId;

  // The first message of a new conversation is pulled (Ben's position in it is not known yet).
  const first = await sendText('hello');
  await ben.waitForCount('onTextMessage', 1, fromAnn);
  const before = await pushes('chat');
  const ids = [];
  for (let i = 0; i < 20; i++) ids.push(await sendText(`pushed ${i}`));
  await ben.waitForCount('onTextMessage', 1 + ids.length, fromAnn);
  await env.barrier([ben]);
  assert.deepEqual(ben.received('onTextMessage', fromAnn).map((m) => m.id), [first, ...ids], 'each once, in order');
  // Most are pushed; one that arrives while Ben's acknowledging pull is being served is
  // noticed and pulled instead (a push never overtakes a pull's answer), so not always all.
  const pushed = (await pushes('chat')) - before;
  assert.ok(pushed >= ids.length / 2, `they were pushed, not pulled (${pushed} of ${ids.length})`);

  // Acknowledged when asked (after 250 ms of quiet): a new connection gets none of them again.
  await sleep(ACKNOWLEDGED_WITHIN_MS);
  await ben.close();
  const again = await env.connect(benName);
  await env.barrier([again]);
  assert.deepEqual(again.received('onTextMessage', fromAnn), [], 'acknowledged messages came again');
});
