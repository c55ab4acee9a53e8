// History through the SDK: getHistoryMessages both ways (searchDirection 'up' and 'down'), its
// searchOptions (message types, sender, time range), removeHistoryMessages by ids and by time
// (the caller's history only), and a chat room's recent messages.
'use strict';

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { setup, SDK } = require('../lib/client');

const env = setup();

let alice;
let bob;
let groupId;

const text = (from, to, msg, chatType = 'singleChat') =>
  from.conn.send(SDK.message.create({ type: 'txt', chatType, to, msg }));
const custom = (from, to, customEvent, chatType = 'singleChat') =>
  from.conn.send(SDK.message.create({ type: 'custom', chatType, to, customEvent, customExts: { k: 'v' } }));

/** Every page of `options` until `isLast`, as the messages' texts (or custom events). */
async function readAll(client, options) {
  const seen = [];
  let cursor = -1;
  for (let pages = 0; pages < 20; pages++) {
    const page = await client.conn.getHistoryMessages({ ...options, cursor });
    seen.push(...page.messages.map((m) => m.msg ?? m.customEvent));
    if (page.isLast) return seen;
    cursor = page.cursor;
  }
  throw new Error('history did not end');
}

before(async () => {
  const [a, b] = await env.users('alice', 'bob');
  alice = await env.connect(a);
  bob = await env.connect(b);
  const created = await env.server.restOk('POST', '/chatgroups', {
    owner: alice.user,
    groupname: 'history',
    desc: 'compat',
    public: false,
    maxusers: 200,
    members: [bob.user],
  });
  groupId = created.data.groupid;
  // 1:1: t1 c2 t3 t4 t5 (alternating senders); group: g1..g4, bob sends the even ones.
  await text(alice, bob.user, 't1');
  await custom(bob, alice.user, 'c2');
  for (const n of [3, 4, 5]) await text(n % 2 ? alice : bob, n % 2 ? bob.user : alice.user, `t${n}`);
  for (const n of [1, 2, 3, 4]) await text(n % 2 ? alice : bob, groupId, `g${n}`, 'groupChat');
});

test('history reads newest first (up) and oldest first (down), page by page', async () => {
  const chat = { targetId: bob.user, chatType: 'singleChat', pageSize: 2 };
  assert.deepEqual(await readAll(alice, chat), ['t5', 't4', 't3', 'c2', 't1']);
  assert.deepEqual(await readAll(alice, { ...chat, searchDirection: 'down' }), ['t1', 'c2', 't3', 't4', 't5']);
  const first = await bob.conn.getHistoryMessages({ ...chat, targetId: alice.user, searchDirection: 'down' });
  assert.deepEqual(first.messages.map((m) => m.msg ?? m.customEvent), ['t1', 'c2']);
  assert.equal(first.isLast, false);
  const group = { targetId: groupId, chatType: 'groupChat', pageSize: 3 };
  assert.deepEqual(await readAll(bob, { ...group, searchDirection: 'down' }), ['g1', 'g2', 'g3', 'g4']);
  assert.deepEqual(await readAll(bob, group), ['g4', 'g3', 'g2', 'g1']);
});

test('searchOptions filter by message type, sender and time', async () => {
  const chat = { targetId: bob.user, chatType: 'singleChat', pageSize: 10 };
  const customs = await alice.conn.getHistoryMessages({ ...chat, searchOptions: { msgTypes: ['custom'] } });
  assert.deepEqual(
    customs.messages.map((m) => [m.type, m.customEvent, m.customExts]),
    [['custom', 'c2', { k: 'v' }]],
  );
  const texts = await alice.conn.getHistoryMessages({ ...chat, searchOptions: { msgTypes: ['txt'] } });
  assert.deepEqual(texts.messages.map((m) => m.msg), ['t5', 't4', 't3', 't1']);

  const group = { targetId: groupId, chatType: 'groupChat', pageSize: 10 };
  const fromBob = await alice.conn.getHistoryMessages({ ...group, searchOptions: { from: bob.user } });
  assert.deepEqual(fromBob.messages.map((m) => m.msg), ['g4', 'g2']);

  const all = (await alice.conn.getHistoryMessages({ ...chat, searchDirection: 'down' })).messages;
  const times = all.map((m) => Number(m.time));
  const window = { startTime: times[1], endTime: times[3] };
  const inWindow = await alice.conn.getHistoryMessages({ ...chat, searchDirection: 'down', searchOptions: window });
  const expected = all.filter((m) => m.time >= times[1] && m.time <= times[3]).map((m) => m.msg ?? m.customEvent);
  assert.deepEqual(inWindow.messages.map((m) => m.msg ?? m.customEvent), expected);
  assert.ok(expected.includes('c2') && expected.includes('t4') && !expected.includes('t5'));
});

test('removeHistoryMessages by ids and by time removes from the caller’s history only', async () => {
  const [carol, dave] = await env.users('carol', 'dave');
  const c = await env.connect(carol);
  const d = await env.connect(dave);
  const sent = [];
  for (const n of [1, 2, 3, 4]) {
    sent.push(await text(n % 2 ? c : d, n % 2 ? dave : carol, `m${n}`));
    // Separate milliseconds, so a time splits them.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const chat = { targetId: dave, chatType: 'singleChat', pageSize: 10 };
  await c.conn.removeHistoryMessages({ targetId: dave, chatType: 'singleChat', messageIds: [sent[1].serverMsgId] });
  assert.deepEqual(await readAll(c, chat), ['m4', 'm3', 'm1']);
  const times = (await c.conn.getHistoryMessages({ ...chat, searchDirection: 'down' })).messages.map((m) => Number(m.time));
  await c.conn.removeHistoryMessages({ targetId: dave, chatType: 'singleChat', beforeTimeStamp: times[1] });
  assert.deepEqual(await readAll(c, chat), ['m4', 'm3']);
  // The peer keeps everything.
  assert.deepEqual(await readAll(d, { ...chat, targetId: carol }), ['m4', 'm3', 'm2', 'm1']);

  // In a group, too.
  await alice.conn.removeHistoryMessages({ targetId: groupId, chatType: 'groupChat', beforeTimeStamp: Date.now() + 1 });
  assert.deepEqual(await readAll(alice, { targetId: groupId, chatType: 'groupChat', pageSize: 10 }), []);
  assert.deepEqual(await readAll(bob, { targetId: groupId, chatType: 'groupChat', pageSize: 10 }), ['g4', 'g3', 'g2', 'g1']);
});

test('a chat room’s history is its recent messages', async () => {
  const created = await env.server.restOk('POST', '/chatrooms', { name: 'room', description: 'compat', owner: alice.user });
  const roomId = created.data.id;
  await alice.conn.joinChatRoom({ roomId });
  await bob.conn.joinChatRoom({ roomId });
  for (const n of [1, 2, 3]) await text(alice, roomId, `r${n}`, 'chatRoom');
  await bob.waitFor((e) => e.name === 'onTextMessage' && e.data.msg === 'r3');
  const room = { targetId: roomId, chatType: 'chatRoom', pageSize: 2 };
  assert.deepEqual(await readAll(bob, room), ['r3', 'r2', 'r1']);
  assert.deepEqual(await readAll(bob, { ...room, searchDirection: 'down' }), ['r1', 'r2', 'r3']);
  const page = await bob.conn.getHistoryMessages(room);
  assert.deepEqual(
    page.messages.map((m) => [m.chatType, m.to, m.from]),
    [
      ['chatRoom', roomId, alice.user],
      ['chatRoom', roomId, alice.user],
    ],
  );
});
