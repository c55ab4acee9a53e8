// Chat rooms through the SDK: joinChatRoom / leaveChatRoom over the websocket (with the info the
// join resolves with) and the events the others hear; room messages pushed to the members with
// their priority; mute-all; the recent messages a joiner gets; a blocklisted member kicked and
// kept out.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { setup, SDK, statusCode } = require('../lib/client');

const env = setup();

/** A room owned by `owner` (created with the app token, as an app's server would). */
async function roomOf(owner) {
  const created = await env.server.restOk('POST', '/chatrooms', { name: 'room', description: 'compat', owner: owner.user });
  return created.data.id;
}

function sendRoomText(client, roomId, msg, priority) {
  const message = SDK.message.create({ type: 'txt', chatType: 'chatRoom', to: roomId, msg, ...(priority ? { priority } : {}) });
  return client.conn.send(message);
}

const receive = (client, id) =>
  client.waitFor((e) => e.name === 'onTextMessage' && e.data.id === id, 5000, `message ${id}`).then((e) => e.data);

const roomEvent = (client, operation, roomId, from) =>
  client
    .waitFor(
      (e) =>
        e.name === 'onChatroomEvent' &&
        e.data.operation === operation &&
        e.data.id === roomId &&
        (from === undefined || e.data.from === from),
      5000,
      `onChatroomEvent ${operation}${from ? ` from ${from}` : ''}`,
    )
    .then((e) => e.data);

const roomTexts = (client, roomId) => client.received('onTextMessage', (m) => m.to === roomId).map((m) => m.msg);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const refusal = (promise) =>
  promise.then(
    (ok) => assert.fail(`resolved with ${JSON.stringify(ok)}`),
    (error) => error,
  );

test('joinChatRoom resolves with the room info; the others hear memberPresence and memberAbsence', async () => {
  const names = await env.users('owner', 'bob', 'carol');
  const [owner, bob, carol] = await Promise.all(names.map((n) => env.connect(n)));
  const roomId = await roomOf(owner);

  const joined = await bob.conn.joinChatRoom({ roomId });
  assert.equal(joined.data.result, true);
  assert.equal(joined.data.id, roomId);
  assert.equal(joined.data.user, bob.user);
  assert.equal(joined.data.info.memberCount, 2);
  assert.equal(joined.data.info.isAllMembersMuted, false);
  assert.equal(joined.data.info.isInAllowlist, false);
  assert.equal(joined.data.info.muteExpireTimestamp, -1);
  assert.ok(joined.data.info.createTimestamp > 0);

  await carol.conn.joinChatRoom({ roomId, ext: '{"seat":"A7"}' });
  const presence = await roomEvent(bob, 'memberPresence', roomId, carol.user);
  assert.equal(presence.memberCount, 3);
  // The joiner's ext comes with memberPresence (both SDK versions hand it out).
  assert.equal(presence.ext, '{"seat":"A7"}');
  await roomEvent(owner, 'memberPresence', roomId, carol.user);

  await carol.conn.leaveChatRoom({ roomId });
  const absence = await roomEvent(bob, 'memberAbsence', roomId, carol.user);
  assert.equal(absence.memberCount, 2);
  const members = await env.server.restOk('GET', `/chatrooms/${roomId}/users?pagenum=1&pagesize=100`);
  assert.deepEqual(members.data.map((m) => m.owner ?? m.member).sort(), [owner.user, bob.user].sort());
  // Nobody hears about themselves.
  assert.equal(carol.received('onChatroomEvent', (e) => e.from === carol.user).length, 0);
});

test('room messages reach the members with their priority; the sender does not get its own', async () => {
  const names = await env.users('owner', 'bob', 'carol', 'outsider');
  const [owner, bob, carol, outsider] = await Promise.all(names.map((n) => env.connect(n)));
  const roomId = await roomOf(owner);
  await bob.conn.joinChatRoom({ roomId });
  await carol.conn.joinChatRoom({ roomId });

  // High priority is the owner's, the admins' and the allowlisted members': an ordinary
  // member's claim of high is treated, and shown, as normal.
  for (const [sender, priority, shown] of [
    [bob, 'high', 'normal'],
    [bob, 'normal', 'normal'],
    [bob, 'low', 'low'],
    [owner, 'high', 'high'],
  ]) {
    const sent = await sendRoomText(sender, roomId, `a ${priority} message`, priority);
    assert.match(sent.serverMsgId, /^\d+$/);
    for (const client of [carol, owner, bob].filter((c) => c !== sender)) {
      const message = await receive(client, sent.serverMsgId);
      assert.equal(message.chatType, 'chatRoom');
      assert.equal(message.from, sender.user);
      assert.equal(message.to, roomId);
      assert.equal(message.msg, `a ${priority} message`);
      assert.equal(message.priority, shown);
    }
  }
  await sleep(300);
  assert.deepEqual(roomTexts(bob, roomId), ['a high message'], 'no echo to the sending connection: only the owner’s');
  assert.equal(roomTexts(outsider, roomId).length, 0, 'nothing for someone not in the room');

  // Not in the room: refused with the SDK's "not joined" error.
  const error = await refusal(sendRoomText(outsider, roomId, 'let me in'));
  assert.equal(error.type, statusCode.GROUP_NOT_JOINED);
});

test("a backend's REST message (POST /messages/chatrooms) reaches the members with its level and ext", async () => {
  const names = await env.users('owner', 'bob');
  const [owner, bob] = await Promise.all(names.map((n) => env.connect(n)));
  const roomId = await roomOf(owner);
  await bob.conn.joinChatRoom({ roomId });

  const reply = await env.server.restOk('POST', '/messages/chatrooms', {
    from: owner.user,
    to: [roomId],
    type: 'txt',
    body: { msg: 'from the backend' },
    ext: { topic: 'news' },
    chatroom_msg_level: 'low',
  });
  const id = reply.data[roomId];
  assert.match(id, /^\d+$/);
  const message = await receive(bob, id);
  assert.equal(message.chatType, 'chatRoom');
  assert.equal(message.from, owner.user);
  assert.equal(message.to, roomId);
  assert.equal(message.msg, 'from the backend');
  assert.equal(message.priority, 'low');
  assert.equal(message.ext.topic, 'news');
});

test('mute-all silences members but not the owner or the allowlisted', async () => {
  const names = await env.users('owner', 'bob', 'vip');
  const [owner, bob, vip] = await Promise.all(names.map((n) => env.connect(n)));
  const roomId = await roomOf(owner);
  await bob.conn.joinChatRoom({ roomId });
  await vip.conn.joinChatRoom({ roomId });
  await owner.conn.addUsersToChatRoomAllowlist({ chatRoomId: roomId, users: [vip.user] });

  await owner.conn.disableSendChatRoomMsg({ chatRoomId: roomId });
  await roomEvent(bob, 'muteAllMembers', roomId);
  const error = await refusal(sendRoomText(bob, roomId, 'muted'));
  assert.equal(error.type, statusCode.SERVICE_NOT_ALLOW_MESSAGING_MUTE);
  const fromOwner = await sendRoomText(owner, roomId, 'owner speaks');
  await receive(bob, fromOwner.serverMsgId);
  const fromVip = await sendRoomText(vip, roomId, 'vip speaks');
  const heard = await receive(bob, fromVip.serverMsgId);
  assert.equal(heard.priority, 'normal', 'the tag is relayed as sent');

  // A late joiner learns it from the join.
  const late = await env.connect((await env.users('late'))[0]);
  const joined = await late.conn.joinChatRoom({ roomId });
  assert.equal(joined.data.info.isAllMembersMuted, true);

  await owner.conn.enableSendChatRoomMsg({ chatRoomId: roomId });
  await roomEvent(bob, 'unmuteAllMembers', roomId);
  const again = await sendRoomText(bob, roomId, 'free again');
  await receive(vip, again.serverMsgId);
});

test('a joiner gets the room’s recent messages, oldest first', async () => {
  const names = await env.users('owner', 'talker', 'joiner');
  const [owner, talker, joiner] = await Promise.all(names.map((n) => env.connect(n)));
  const roomId = await roomOf(owner);
  await talker.conn.joinChatRoom({ roomId });
  const ids = [];
  for (let i = 0; i < 12; i++) {
    ids.push((await sendRoomText(talker, roomId, `history ${i}`)).serverMsgId);
  }
  await joiner.conn.joinChatRoom({ roomId });
  await joiner.waitForCount('onTextMessage', 10, (m) => m.to === roomId);
  await sleep(200);
  const received = joiner.received('onTextMessage', (m) => m.to === roomId);
  assert.deepEqual(
    received.map((m) => m.msg),
    Array.from({ length: 10 }, (_, i) => `history ${i + 2}`),
    'the newest 10',
  );
  assert.deepEqual(
    received.map((m) => m.id),
    ids.slice(2),
  );
  assert.ok(received.every((m) => m.chatType === 'chatRoom' && m.from === talker.user));
});

test('a blocklisted member is kicked (removeMember) and cannot come back', async () => {
  const names = await env.users('owner', 'bob', 'carol');
  const [owner, bob, carol] = await Promise.all(names.map((n) => env.connect(n)));
  const roomId = await roomOf(owner);
  await bob.conn.joinChatRoom({ roomId });
  await carol.conn.joinChatRoom({ roomId });

  await owner.conn.blockChatRoomMember({ chatRoomId: roomId, username: bob.user });
  const kicked = await roomEvent(bob, 'removeMember', roomId);
  assert.equal(kicked.from, owner.user);
  await roomEvent(carol, 'memberAbsence', roomId, bob.user);

  const rejoin = await refusal(bob.conn.joinChatRoom({ roomId }));
  assert.equal(rejoin.type, statusCode.PERMISSION_DENIED, JSON.stringify(rejoin));
  const send = await refusal(sendRoomText(bob, roomId, 'still here?'));
  assert.equal(send.type, statusCode.GROUP_NOT_JOINED);
  const after = await sendRoomText(carol, roomId, 'bob is gone');
  await receive(owner, after.serverMsgId);
  await sleep(200);
  assert.equal(roomTexts(bob, roomId).length, 0);
});
