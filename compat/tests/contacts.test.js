// Contacts and the user blocklist with the unmodified SDK: a friend request and its answers
// reach the other side as the SDK's contact callbacks (msync ROSTER), contacts are listed with
// remarks, and a blocklist is enforced: the blocked user's 1:1 messages are refused with the
// SDK's PERMISSION_DENIED and never delivered. With the app's contacts-only setting, messages
// between strangers are refused with USER_NOT_FRIEND.
'use strict';

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { setup, SDK, statusCode } = require('../lib/client');

const env = setup();

let alice;
let bob;

before(async () => {
  const [a, b] = await env.users('alice', 'bob');
  alice = await env.connect(a);
  bob = await env.connect(b);
});

const sendText = (from, to, msg) => from.conn.send(SDK.message.create({ type: 'txt', chatType: 'singleChat', to, msg }));

const refusal = (promise) =>
  promise.then(
    (value) => assert.fail(`resolved with ${JSON.stringify(value)}`),
    (error) => error,
  );

const contactNames = async (client) => (await client.conn.getContacts()).data.map((c) => c.name ?? c).sort();

test('a request reaches the invitee with its message; accepting tells the requester and lists both', async () => {
  await alice.conn.addContact(bob.user, 'hello bob');
  const invited = await bob.waitFor((e) => e.name === 'onContactInvited', 5000, 'onContactInvited').then((e) => e.data);
  assert.equal(invited.from, alice.user);
  assert.equal(invited.to, bob.user);
  assert.equal(invited.status, 'hello bob');
  assert.equal(invited.type, 'subscribe');

  await bob.conn.acceptContactInvite(alice.user);
  const agreed = await alice.waitFor((e) => e.name === 'onContactAgreed', 5000, 'onContactAgreed').then((e) => e.data);
  assert.equal(agreed.from, bob.user);
  const added = await alice.waitFor((e) => e.name === 'onContactAdded', 5000, 'onContactAdded').then((e) => e.data);
  assert.equal(added.from, bob.user);

  assert.deepEqual(await contactNames(alice), [bob.user]);
  assert.deepEqual(await contactNames(bob), [alice.user]);
});

test('remarks are the owner’s and come back from getAllContacts; a stranger’s remark is USER_NOT_FRIEND', async () => {
  await alice.conn.setContactRemark({ userId: bob.user, remark: 'Bobby' });
  const all = await alice.conn.getAllContacts();
  assert.deepEqual(all.data, [{ userId: bob.user, remark: 'Bobby' }]);
  const theirs = await bob.conn.getAllContacts();
  assert.deepEqual(theirs.data, [{ userId: alice.user, remark: '' }]);
  const [stranger] = await env.users('stranger');
  const error = await refusal(alice.conn.setContactRemark({ userId: stranger, remark: 'who?' }));
  assert.equal(error.type, statusCode.USER_NOT_FRIEND);
});

test('declining a request tells the requester with onContactRefuse and adds no contact', async () => {
  const [c] = await env.users('carol');
  const carol = await env.connect(c);
  await carol.conn.addContact(bob.user, 'me too?');
  await bob.waitFor((e) => e.name === 'onContactInvited' && e.data.from === carol.user, 5000, 'carol’s invitation');
  await bob.conn.declineContactInvite(carol.user);
  const refused = await carol.waitFor((e) => e.name === 'onContactRefuse', 5000, 'onContactRefuse').then((e) => e.data);
  assert.equal(refused.from, bob.user);
  assert.deepEqual(await contactNames(carol), []);
  assert.deepEqual(await contactNames(bob), [alice.user]);
});

test('deleting a contact removes it on both sides and tells the other with onContactDeleted', async () => {
  const [d, e] = await env.users('dave', 'erin');
  const dave = await env.connect(d);
  const erin = await env.connect(e);
  await dave.conn.addContact(erin.user, '');
  await erin.waitFor((ev) => ev.name === 'onContactInvited', 5000, 'onContactInvited');
  await erin.conn.acceptContactInvite(dave.user);
  await dave.waitFor((ev) => ev.name === 'onContactAgreed', 5000, 'onContactAgreed');
  await erin.conn.deleteContact(dave.user);
  const deleted = await dave.waitFor((ev) => ev.name === 'onContactDeleted', 5000, 'onContactDeleted').then((ev) => ev.data);
  assert.equal(deleted.from, erin.user);
  assert.deepEqual(await contactNames(dave), []);
  assert.deepEqual(await contactNames(erin), []);
});

test('an invitation sent while the invitee is offline arrives at their next login', async () => {
  const [f, g] = await env.users('frank', 'grace');
  const frank = await env.connect(f);
  await frank.conn.addContact(g, 'see you later');
  const grace = await env.connect(g);
  const invited = await grace.waitFor((e) => e.name === 'onContactInvited', 5000, 'onContactInvited').then((e) => e.data);
  assert.equal(invited.from, frank.user);
  assert.equal(invited.status, 'see you later');
});

test('a blocked user’s 1:1 messages are refused with PERMISSION_DENIED and never delivered', async () => {
  const [h] = await env.users('heidi');
  const heidi = await env.connect(h);
  const before = await sendText(heidi, bob.user, 'before the block');
  await bob.waitFor((e) => e.name === 'onTextMessage' && e.data.id === before.serverMsgId);

  const added = await bob.conn.addUsersToBlocklist({ name: [heidi.user] });
  assert.deepEqual(added.data.userIds, [heidi.user]);
  const list = await bob.conn.getBlocklist();
  assert.deepEqual(list.data, [heidi.user]);

  const error = await refusal(sendText(heidi, bob.user, 'can you hear me?'));
  assert.equal(error.type, statusCode.PERMISSION_DENIED);
  // One way: bob still writes to heidi.
  const reply = await sendText(bob, heidi.user, 'I can write to you');
  await heidi.waitFor((e) => e.name === 'onTextMessage' && e.data.id === reply.serverMsgId);
  // A blocked user's friend request is refused too.
  await assert.rejects(heidi.conn.addContact(bob.user, 'let me in'));

  await bob.conn.removeUserFromBlocklist({ name: [heidi.user] });
  assert.deepEqual((await bob.conn.getBlocklist()).data, []);
  const after = await sendText(heidi, bob.user, 'after the unblock');
  await bob.waitFor((e) => e.name === 'onTextMessage' && e.data.id === after.serverMsgId);

  await env.barrier([heidi, bob]);
  const texts = bob.received('onTextMessage', (m) => m.from === heidi.user).map((m) => m.msg);
  assert.deepEqual(texts, ['before the block', 'after the unblock'], 'the refused message never arrived');
  const history = await bob.conn.getHistoryMessages({ targetId: heidi.user, chatType: 'singleChat', pageSize: 20 });
  assert.ok(!history.messages.some((m) => m.msg === 'can you hear me?'), 'nor is it in history');
});

test('with contacts-only chat on, strangers are refused with USER_NOT_FRIEND and contacts still chat', async () => {
  const setting = await env.server.restOk('PUT', '/settings/contacts', { contacts_only: true });
  assert.equal(setting.data.contacts_only, true);
  try {
    const [i] = await env.users('ivan');
    const ivan = await env.connect(i);
    const error = await refusal(sendText(ivan, alice.user, 'hi stranger'));
    assert.equal(error.type, statusCode.USER_NOT_FRIEND);
    const sent = await sendText(bob, alice.user, 'hi friend');
    await alice.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId);
  } finally {
    await env.server.restOk('PUT', '/settings/contacts', { contacts_only: false });
  }
});
