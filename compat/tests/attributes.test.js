// Group member attributes: a change reaches the other members as onGroupEvent
// `memberAttributesUpdate` with the attributes and whose they are (the SDK parses them from
// MUCBody.eventInfo.ext).
'use strict';

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { setup } = require('../lib/client');

const env = setup();

let alice;
let bob;
let carol;
let groupId;

before(async () => {
  const names = await env.users('alice', 'bob', 'carol');
  [alice, bob, carol] = await Promise.all(names.map((n) => env.connect(n)));
  const created = await alice.conn.createGroup({
    data: { groupname: 'attributes', desc: '', members: [bob.user, carol.user], public: false, approval: false, allowinvites: false, inviteNeedConfirm: false, maxusers: 10 },
  });
  groupId = created.data.groupid;
  await Promise.all([bob, carol].map((c) => c.waitForGroupEvent('directJoined', groupId)));
});

test('a member setting their attributes tells the other members, with the attributes', async () => {
  await bob.conn.setGroupMemberAttributes({ groupId, userId: bob.user, memberAttributes: { nickname: 'Bobby', role: 'guide' } });
  for (const client of [alice, carol]) {
    const event = await client.waitForGroupEvent('memberAttributesUpdate', groupId);
    assert.equal(event.userId, bob.user);
    assert.equal(event.from, bob.user);
    assert.deepEqual(event.attributes, { nickname: 'Bobby', role: 'guide' });
  }
  await env.barrier([alice, bob, carol], [groupId]);
  assert.deepEqual(bob.groupEvents(groupId).filter((e) => e.operation === 'memberAttributesUpdate'), []);
  // What the event said is what the server keeps.
  const stored = await alice.conn.getGroupMemberAttributes({ groupId, userId: bob.user });
  assert.deepEqual(stored.data, { nickname: 'Bobby', role: 'guide' });
});

test('the owner setting a member’s attributes is reported as the owner’s change', async () => {
  await alice.conn.setGroupMemberAttributes({ groupId, userId: carol.user, memberAttributes: { seat: '12A' } });
  const event = await bob.waitFor(
    (e) => e.name === 'onGroupEvent' && e.data.operation === 'memberAttributesUpdate' && e.data.userId === carol.user,
    5000,
    'memberAttributesUpdate for carol',
  ).then((e) => e.data);
  assert.equal(event.from, alice.user);
  assert.deepEqual(event.attributes, { seat: '12A' });
});
