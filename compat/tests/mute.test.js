// Muting through the SDK: a muted member's send is refused with the SDK's muted error; mute-all
// lets only the owner, admins and allowlisted members send.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { setup, sendGroupText, statusCode, createGroup } = require('../lib/client');

const env = setup();

/**
 * The error `send()` rejects with when the server refuses a message with msync USER_MUTED(15):
 * both SDKs map status 15 to SERVICE_NOT_ALLOW_MESSAGING_MUTE (507, "The current user is
 * muted"). (PERMISSION_DENIED(7) with reason "user is mute" would be USER_MUTED_BY_ADMIN 219,
 * "Global muted".)
 */
const MUTED = statusCode.SERVICE_NOT_ALLOW_MESSAGING_MUTE;

const groupOf = (owner, members) => createGroup(owner, members, 'mute');

const refusal = (promise) =>
  promise.then(
    (sent) => assert.fail(`send() resolved with ${sent.serverMsgId}`),
    (error) => error,
  );

/** Sends and checks every one of `receivers` gets it. */
async function sendsTo(sender, groupId, text, receivers) {
  const sent = await sendGroupText(sender, groupId, text);
  await Promise.all(
    receivers.map((r) => r.waitFor((e) => e.name === 'onTextMessage' && e.data.id === sent.serverMsgId, 5000, text)),
  );
  return sent;
}

const textsIn = (client, groupId, text) => client.received('onTextMessage', (m) => m.to === groupId && m.msg === text);

test('a muted member cannot send (SERVICE_NOT_ALLOW_MESSAGING_MUTE) until unmuted', async () => {
  const names = await env.users('owner', 'muted', 'other');
  const [owner, muted, other] = await Promise.all(names.map((n) => env.connect(n)));
  const groupId = await groupOf(owner, [muted, other]);

  await owner.conn.muteGroupMember({ groupId, username: muted.user, muteDuration: -1 });
  const event = await muted.waitForGroupEvent('muteMember', groupId);
  assert.equal(event.from, owner.user);

  const error = await refusal(sendGroupText(muted, groupId, 'can you hear me'));
  assert.equal(error.type, MUTED);
  // The SDK rejects with a plain object and its own text (the server's reason is not used).
  assert.equal(error.reason, 'you were muted');

  // The others can still send, and the muted member still receives.
  await sendsTo(other, groupId, 'yes we can', [owner, muted]);
  await env.barrier([owner, other], [groupId]);
  assert.equal(textsIn(owner, groupId, 'can you hear me').length, 0);
  assert.equal(textsIn(other, groupId, 'can you hear me').length, 0);
  // muteMember: the target and the owner and admins, but not the actor; not plain members.
  assert.deepEqual(
    other.groupEvents(groupId).map((e) => e.operation),
    ['directJoined'],
  );
  assert.ok(!owner.groupEvents(groupId).some((e) => e.operation === 'muteMember'));

  await owner.conn.unmuteGroupMember({ groupId, username: muted.user });
  await muted.waitForGroupEvent('unmuteMember', groupId);
  await sendsTo(muted, groupId, 'back again', [owner, other]);
});

test('mute-all: members are refused; owner and allowlisted members still send', async () => {
  const names = await env.users('owner', 'member', 'allowed');
  const [owner, member, allowed] = await Promise.all(names.map((n) => env.connect(n)));
  const groupId = await groupOf(owner, [member, allowed]);

  await owner.conn.addUsersToGroupAllowlist({ groupId, users: [allowed.user] });
  await allowed.waitForGroupEvent('addUserToAllowlist', groupId);
  await owner.conn.disableSendGroupMsg({ groupId });
  for (const client of [member, allowed]) {
    const event = await client.waitForGroupEvent('muteAllMembers', groupId);
    assert.equal(event.from, owner.user);
  }

  const error = await refusal(sendGroupText(member, groupId, 'from the crowd'));
  assert.equal(error.type, MUTED);
  await sendsTo(allowed, groupId, 'from the allowlist', [owner, member]);
  await sendsTo(owner, groupId, 'from the owner', [member, allowed]);
  await env.barrier([owner, allowed], [groupId]);
  assert.equal(textsIn(owner, groupId, 'from the crowd').length, 0);
  assert.equal(textsIn(allowed, groupId, 'from the crowd').length, 0);

  await owner.conn.enableSendGroupMsg({ groupId });
  await member.waitForGroupEvent('unmuteAllMembers', groupId);
  await sendsTo(member, groupId, 'free again', [owner, allowed]);
});

test('an allowlisted member who is also muted stays muted under mute-all', async () => {
  const names = await env.users('owner', 'both');
  const [owner, both] = await Promise.all(names.map((n) => env.connect(n)));
  const groupId = await groupOf(owner, [both]);
  await owner.conn.addUsersToGroupAllowlist({ groupId, users: [both.user] });
  await owner.conn.muteGroupMember({ groupId, username: both.user, muteDuration: 60000 });
  await owner.conn.disableSendGroupMsg({ groupId });
  await both.waitForGroupEvent('muteAllMembers', groupId);
  const error = await refusal(sendGroupText(both, groupId, 'still muted'));
  assert.equal(error.type, MUTED);
});
