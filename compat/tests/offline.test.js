// Offline store: a member who was away while 250 group messages were sent receives exactly the
// newest 200 when logging in, in order, each once.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { setup, sendGroupText, restGroup } = require('../lib/client');

const env = setup();

const SENT = 250;
const KEPT = 200;

const groupWith = (ownerName, memberNames) => restGroup(env.server, ownerName, memberNames, 'offline');

/** Logs `name` in and collects the group's texts until KEPT arrived and a barrier passed. */
async function loginAndCollect(name, groupId) {
  const client = await env.connect(name);
  const isOurs = (m) => m.to === groupId && m.chatType === 'groupChat';
  await client.waitForCount('onTextMessage', KEPT, isOurs, 20000);
  // Nothing else is on its way: a marker sent now arrives after anything still queued.
  await env.barrier([client], [groupId]);
  return { client, texts: client.received('onTextMessage', isOurs) };
}

function assertNewest(texts, sentIds) {
  assert.equal(texts.length, KEPT, 'exactly the newest 200');
  assert.deepEqual(
    texts.map((m) => m.ext.seq),
    Array.from({ length: KEPT }, (_, i) => SENT - KEPT + i),
    'the newest 200, oldest first',
  );
  assert.deepEqual(
    texts.map((m) => m.id),
    sentIds.slice(SENT - KEPT),
    'each message has the id its sender got',
  );
  assert.equal(new Set(texts.map((m) => m.id)).size, KEPT, 'each once');
}

test('250 REST messages to a member who never logged in: the newest 200 at login', async () => {
  const [ownerName, memberName] = await env.users('owner', 'member');
  const groupId = await groupWith(ownerName, [memberName]);
  const sentIds = [];
  for (let seq = 0; seq < SENT; seq++) {
    const reply = await env.server.restOk('POST', '/messages/chatgroups', {
      from: ownerName,
      to: [groupId],
      type: 'txt',
      body: { msg: `rest ${seq}` },
      ext: { seq },
    });
    sentIds.push(reply.data[groupId]);
  }
  const { client, texts } = await loginAndCollect(memberName, groupId);
  assertNewest(texts, sentIds);
  assert.deepEqual(
    texts.slice(0, 2).map((m) => [m.msg, m.from]),
    [
      [`rest ${SENT - KEPT}`, ownerName],
      [`rest ${SENT - KEPT + 1}`, ownerName],
    ],
  );
  // The SDK announces the offline sync around the pulled queues.
  assert.ok(client.received('onOfflineMessageSyncStart').length >= 1);
  assert.ok(client.received('onOfflineMessageSyncFinish').length >= 1);
});

test('250 SDK messages while a member who was online is away: the newest 200 when back', async () => {
  const [ownerName, memberName] = await env.users('owner', 'member');
  const groupId = await groupWith(ownerName, [memberName]);
  const owner = await env.connect(ownerName);

  // The member has been online once (so their device has a position in the queue).
  const before = await env.connect(memberName);
  const hello = await sendGroupText(owner, groupId, 'hello', { seq: -1 });
  await before.waitFor((e) => e.name === 'onTextMessage' && e.data.id === hello.serverMsgId);
  await before.close();

  const sentIds = [];
  for (let seq = 0; seq < SENT; seq++) {
    const sent = await sendGroupText(owner, groupId, `sdk ${seq}`, { seq });
    sentIds.push(sent.serverMsgId);
  }
  const { texts } = await loginAndCollect(memberName, groupId);
  assertNewest(texts, sentIds);
  assert.ok(!texts.some((m) => m.id === hello.serverMsgId), 'what was delivered before is not again');
});

test('a device that comes back gets what it missed after its position, and nothing twice', async () => {
  const [ownerName, memberName] = await env.users('owner', 'member');
  const groupId = await groupWith(ownerName, [memberName]);
  const owner = await env.connect(ownerName);
  const first = await env.connect(memberName);
  const seen = await sendGroupText(owner, groupId, 'seen', { seq: -1 });
  await first.waitFor((e) => e.name === 'onTextMessage' && e.data.id === seen.serverMsgId);
  await first.close();

  const missed = [];
  for (let seq = 0; seq < 5; seq++) missed.push((await sendGroupText(owner, groupId, `missed ${seq}`, { seq })).serverMsgId);
  const back = await env.connect(memberName);
  const isOurs = (m) => m.to === groupId;
  await back.waitForCount('onTextMessage', missed.length, isOurs);
  await env.barrier([back], [groupId]);
  assert.deepEqual(
    back.received('onTextMessage', isOurs).map((m) => m.id),
    missed,
  );

  // Another device of the same user has its own position: it gets the history's newest too.
  const other = await env.connect(memberName, { deviceId: `${memberName}-tablet` });
  await other.waitForCount('onTextMessage', missed.length + 1, isOurs);
  await env.barrier([other], [groupId]);
  assert.deepEqual(
    other.received('onTextMessage', isOurs).map((m) => m.id),
    [seen.serverMsgId, ...missed],
  );
});
