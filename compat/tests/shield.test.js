// Blocking a group's messages for oneself (the SDK's blockGroupMessage → POST
// /chatgroups/{g}/shield): that member stops receiving the group's messages while the others
// still do; unblockGroupMessage resumes delivery (of new messages only).
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { setup, sendGroupText } = require('../lib/client');

const env = setup();

test('blockGroupMessage stops delivery to that member only; unblockGroupMessage resumes it', async () => {
  const names = await env.users('owner', 'quiet', 'other');
  const [owner, quiet, other] = await Promise.all(names.map((n) => env.connect(n)));
  const created = await owner.conn.createGroup({
    data: {
      groupname: 'shield',
      desc: '',
      members: [quiet.user, other.user],
      public: false,
      approval: false,
      allowinvites: false,
      inviteNeedConfirm: false,
      maxusers: 200,
    },
  });
  const groupId = created.data.groupid;
  await Promise.all([quiet, other].map((c) => c.waitForGroupEvent('directJoined', groupId)));
  const texts = (client) => client.received('onTextMessage', (m) => m.to === groupId).map((m) => m.msg);

  const before = await sendGroupText(owner, groupId, 'before');
  await quiet.waitFor((e) => e.name === 'onTextMessage' && e.data.id === before.serverMsgId);

  const reply = await quiet.conn.blockGroupMessage({ groupId });
  assert.equal(reply.type, 0);

  const during = [];
  for (const text of ['during 1', 'during 2']) during.push(await sendGroupText(owner, groupId, text));
  during.push(await sendGroupText(other, groupId, 'during 3'));
  await other.waitForCount('onTextMessage', 2, (m) => m.to === groupId && m.msg.startsWith('during'));
  await owner.waitFor((e) => e.name === 'onTextMessage' && e.data.id === during[2].serverMsgId);
  // A personal marker after the messages: the quiet member's pull of the group queue (noticed
  // earlier) has happened by the time it arrives.
  await env.barrier([quiet]);
  assert.deepEqual(texts(quiet), ['before']);
  assert.deepEqual(texts(other), ['before', 'during 1', 'during 2']);
  assert.deepEqual(texts(owner), ['during 3']);

  await quiet.conn.unblockGroupMessage({ groupId });
  const after = await sendGroupText(other, groupId, 'after');
  await quiet.waitFor((e) => e.name === 'onTextMessage' && e.data.id === after.serverMsgId);
  await env.barrier([quiet], [groupId]);
  assert.deepEqual(texts(quiet), ['before', 'after']);
});

test('a member who blocked the group gets none of its messages at login either', async () => {
  const [ownerName, quietName] = await env.users('owner', 'quiet');
  const owner = await env.connect(ownerName);
  const created = await owner.conn.createGroup({
    data: { groupname: 'shield-offline', desc: '', members: [quietName], public: false, approval: false, maxusers: 200 },
  });
  const groupId = created.data.groupid;
  const quiet = await env.connect(quietName);
  await quiet.conn.blockGroupMessage({ groupId });
  await quiet.close();
  for (let i = 0; i < 3; i++) await sendGroupText(owner, groupId, `offline ${i}`);

  const back = await env.connect(quietName);
  // A personal marker: the login's sync is over when it arrives (group markers would not
  // reach a member who blocked the group).
  await env.barrier([back]);
  assert.deepEqual(
    back.received('onTextMessage', (m) => m.to === groupId),
    [],
  );
});
