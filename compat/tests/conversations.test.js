// The conversation list through the SDK: getServerConversations (newest activity first, with the
// last message and the unread count, paged), pinConversation and getServerPinnedConversations,
// conversation marks (add, remove, getServerConversationsByFilter), and deleteConversation with
// or without its messages.
'use strict';

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { setup, SDK } = require('../lib/client');

const env = setup();

let ann;
let ben;
let cat;
let groupId;

const text = (from, to, msg, chatType = 'singleChat') =>
  from.conn.send(SDK.message.create({ type: 'txt', chatType, to, msg }));
const pause = () => new Promise((resolve) => setTimeout(resolve, 5));

/** Every conversation of `client`'s list, page by page, as `[id, type, lastText, unread]`. */
async function listAll(client, call = 'getServerConversations', extra = {}) {
  const seen = [];
  let cursor = '';
  for (let pages = 0; pages < 20; pages++) {
    const page = await client.conn[call]({ pageSize: 2, cursor, ...extra });
    seen.push(...page.data.conversations);
    if (!page.data.cursor) return seen;
    cursor = page.data.cursor;
  }
  throw new Error('the list did not end');
}
const summary = (conversations) =>
  conversations.map((c) => [c.conversationId, c.conversationType, c.lastMessage.msg, c.unReadCount]);

before(async () => {
  const [a, b, c] = await env.users('ann', 'ben', 'cat');
  ann = await env.connect(a);
  ben = await env.connect(b);
  cat = await env.connect(c);
  const created = await env.server.restOk('POST', '/chatgroups', {
    owner: ann.user,
    groupname: 'list',
    desc: 'compat',
    public: false,
    maxusers: 200,
    members: [ben.user, cat.user],
  });
  groupId = created.data.groupid;
  // Oldest activity first: ann–cat, then the group, then ann–ben.
  await text(cat, ann.user, 'from cat');
  await pause();
  await text(ben, groupId, 'g1', 'groupChat');
  await text(cat, groupId, 'g2', 'groupChat');
  await pause();
  await text(ann, ben.user, 'hi ben');
  await text(ben, ann.user, 'hi ann');
  await text(ben, ann.user, 'still there?');
});

test('getServerConversations: newest activity first, last message and unread, paged', async () => {
  const list = await listAll(ann);
  assert.deepEqual(summary(list), [
    [ben.user, 'singleChat', 'still there?', 2],
    [groupId, 'groupChat', 'g2', 2],
    [cat.user, 'singleChat', 'from cat', 1],
  ]);
  const last = list[0].lastMessage;
  assert.equal(last.type, 'txt');
  assert.equal(last.from, ben.user);
  assert.equal(last.chatType, 'singleChat');
  assert.ok(last.id && last.time > 0);
  assert.equal(list[1].lastMessage.chatType, 'groupChat');
  assert.equal(list[0].isPinned, false);
  // Ben's own messages are not unread for him.
  const bens = await listAll(ben);
  assert.deepEqual(summary(bens), [
    [ann.user, 'singleChat', 'still there?', 1],
    [groupId, 'groupChat', 'g2', 1],
  ]);
});

test('a conversation read ack clears its unread count', async () => {
  await ann.conn.send(SDK.message.create({ type: 'channel', chatType: 'singleChat', to: ben.user }));
  const list = await listAll(ann);
  assert.equal(list.find((c) => c.conversationId === ben.user).unReadCount, 0);
});

test('pinned conversations come first and are listed by getServerPinnedConversations', async () => {
  const pinned = await ann.conn.pinConversation({ conversationId: cat.user, conversationType: 'singleChat', isPinned: true });
  assert.equal(pinned.data.isPinned, true);
  assert.ok(pinned.data.pinnedTime > 0);
  const list = await listAll(ann);
  assert.deepEqual(
    list.map((c) => [c.conversationId, c.isPinned]),
    [
      [cat.user, true],
      [ben.user, false],
      [groupId, false],
    ],
  );
  assert.equal(list[0].pinnedTime, pinned.data.pinnedTime);
  assert.deepEqual(summary(await listAll(ann, 'getServerPinnedConversations')).map((c) => c[0]), [cat.user]);
  const unpinned = await ann.conn.pinConversation({ conversationId: cat.user, conversationType: 'singleChat', isPinned: false });
  assert.deepEqual(unpinned.data, { isPinned: false, pinnedTime: 0 });
  assert.deepEqual(await listAll(ann, 'getServerPinnedConversations'), []);
});

test('marks are added, listed by filter and removed', async () => {
  const both = [
    { conversationId: groupId, conversationType: 'groupChat' },
    { conversationId: ben.user, conversationType: 'singleChat' },
  ];
  await ann.conn.addConversationMark({ conversations: both, mark: 3 });
  await ann.conn.addConversationMark({ conversations: [both[0]], mark: 0 });
  const marked = await listAll(ann, 'getServerConversationsByFilter', { filter: { mark: 3 } });
  assert.deepEqual(marked.map((c) => c.conversationId).sort(), [ben.user, groupId].sort());
  const group = (await listAll(ann)).find((c) => c.conversationId === groupId);
  assert.deepEqual([...group.marks].sort(), [0, 3]);
  await ann.conn.removeConversationMark({ conversations: [both[1]], mark: 3 });
  const left = await listAll(ann, 'getServerConversationsByFilter', { filter: { mark: 3 } });
  assert.deepEqual(left.map((c) => c.conversationId), [groupId]);
});

test('deleteConversation hides it until its next message; with deleteRoam its history goes too', async () => {
  await ann.conn.deleteConversation({ channel: cat.user, chatType: 'singleChat', deleteRoam: false });
  assert.ok(!(await listAll(ann)).some((c) => c.conversationId === cat.user));
  const kept = await ann.conn.getHistoryMessages({ targetId: cat.user, chatType: 'singleChat', pageSize: 10 });
  assert.deepEqual(kept.messages.map((m) => m.msg), ['from cat']);
  await text(cat, ann.user, 'back again');
  const back = (await listAll(ann)).find((c) => c.conversationId === cat.user);
  assert.deepEqual([back.lastMessage.msg, back.unReadCount], ['back again', 1]);

  await ann.conn.deleteConversation({ channel: groupId, chatType: 'groupChat', deleteRoam: true });
  assert.ok(!(await listAll(ann)).some((c) => c.conversationId === groupId));
  const gone = await ann.conn.getHistoryMessages({ targetId: groupId, chatType: 'groupChat', pageSize: 10 });
  assert.deepEqual(gone.messages, []);
  // The others keep theirs.
  assert.ok((await listAll(ben)).some((c) => c.conversationId === groupId));
});
