// Group membership through the SDK: create, join (open and with approval), invite (with and
// without confirmation), leave, remove; and which users receive which onGroupEvent.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { setup } = require('../lib/client');

const env = setup();

/** Connects every named user; returns the clients in the same order. */
const connectAll = (names) => Promise.all(names.map((name) => env.connect(name)));

/** Creates a group through the owner's SDK connection; returns its id. */
async function createGroup(owner, settings, members = []) {
  const reply = await owner.conn.createGroup({
    data: {
      groupname: settings.groupname ?? 'g',
      desc: 'a group',
      members,
      public: settings.public ?? true,
      approval: settings.approval ?? false,
      allowinvites: settings.allowinvites ?? false,
      inviteNeedConfirm: settings.inviteNeedConfirm ?? false,
      maxusers: 200,
    },
  });
  assert.equal(typeof reply.data.groupid, 'string');
  return reply.data.groupid;
}

/** The operations `client` received for `groupId`, in order. */
const operations = (client, groupId) => client.groupEvents(groupId).map((e) => e.operation);

/** The group's members as the server has them (REST, app admin). */
async function memberNames(groupId) {
  const reply = await env.server.restOk('GET', `/chatgroups/${groupId}/users?pagenum=1&pagesize=100`);
  return reply.data.map((m) => m.owner ?? m.member).sort();
}

test('createGroup: the initial members get directJoined from the owner, outsiders nothing', async () => {
  const [ownerName, memberName, outsiderName] = await env.users('owner', 'member', 'outsider');
  const [owner, member, outsider] = await connectAll([ownerName, memberName, outsiderName]);

  const groupId = await createGroup(owner, { groupname: 'created' }, [memberName]);
  const joined = await member.waitForGroupEvent('directJoined', groupId);
  assert.equal(joined.from, ownerName);
  assert.equal(joined.name, 'created');

  await env.barrier([owner, member, outsider], [groupId]);
  assert.deepEqual(operations(member, groupId), ['directJoined']);
  assert.deepEqual(operations(outsider, groupId), []);
  // The creating device itself hears `create` (from the owner); nothing else.
  assert.deepEqual(operations(owner, groupId), ['create']);
  assert.equal(owner.groupEvents(groupId)[0].from, ownerName);
  assert.deepEqual(await memberNames(groupId), [memberName, ownerName].sort());
});

test('joinGroup on a public open group: joined at once, the others hear memberPresence', async () => {
  const [ownerName, memberName, applicantName, outsiderName] = await env.users('owner', 'member', 'applicant', 'outsider');
  const [owner, member, applicant, outsider] = await connectAll([ownerName, memberName, applicantName, outsiderName]);
  const groupId = await createGroup(owner, { public: true, approval: false }, [memberName]);
  await member.waitForGroupEvent('directJoined', groupId);

  const reply = await applicant.conn.joinGroup({ groupId, message: 'let me in' });
  assert.equal(reply.type, 0);

  for (const client of [owner, member]) {
    const presence = await client.waitForGroupEvent('memberPresence', groupId);
    assert.equal(presence.from, applicantName);
    assert.equal(presence.memberCount, 3);
  }
  await env.barrier([owner, member, applicant, outsider], [groupId]);
  assert.deepEqual(operations(owner, groupId), ['create', 'memberPresence']);
  assert.deepEqual(operations(member, groupId), ['directJoined', 'memberPresence']);
  // No requestToJoin for an open group, and no event about oneself.
  assert.deepEqual(operations(applicant, groupId), []);
  assert.deepEqual(operations(outsider, groupId), []);
  assert.deepEqual(await memberNames(groupId), [applicantName, memberName, ownerName].sort());
});

test('joinGroup on an approval group: requestToJoin to owner and admins, acceptRequest to the applicant', async () => {
  const [ownerName, adminName, memberName, applicantName] = await env.users('owner', 'admin', 'member', 'applicant');
  const [owner, admin, member, applicant] = await connectAll([ownerName, adminName, memberName, applicantName]);
  const groupId = await createGroup(owner, { public: true, approval: true }, [adminName, memberName]);
  await member.waitForGroupEvent('directJoined', groupId);
  await owner.conn.setGroupAdmin({ groupId, username: adminName });
  const setAdmin = await admin.waitForGroupEvent('setAdmin', groupId);
  assert.equal(setAdmin.from, ownerName);

  await applicant.conn.joinGroup({ groupId, message: 'please' });
  for (const client of [owner, admin]) {
    const request = await client.waitForGroupEvent('requestToJoin', groupId);
    assert.equal(request.from, applicantName);
    assert.equal(request.reason, 'please');
  }
  await env.barrier([owner, admin, member, applicant], [groupId]);
  // A plain member does not see requests; the applicant is not a member yet.
  assert.deepEqual(operations(member, groupId), ['directJoined']);
  assert.deepEqual(operations(applicant, groupId), []);
  assert.deepEqual(await memberNames(groupId), [adminName, memberName, ownerName].sort());

  await owner.conn.acceptGroupJoinRequest({ groupId, applicant: applicantName });
  const accepted = await applicant.waitForGroupEvent('acceptRequest', groupId);
  assert.equal(accepted.from, ownerName);
  for (const client of [owner, admin, member]) {
    const presence = await client.waitForGroupEvent('memberPresence', groupId);
    assert.equal(presence.from, applicantName);
  }
  await env.barrier([owner, admin, member, applicant], [groupId]);
  // setAdmin goes to the owner, the target and the other admins (the owner even as the actor).
  assert.deepEqual(operations(owner, groupId), ['create', 'setAdmin', 'requestToJoin', 'memberPresence']);
  assert.deepEqual(operations(admin, groupId), ['directJoined', 'setAdmin', 'requestToJoin', 'memberPresence']);
  assert.deepEqual(operations(member, groupId), ['directJoined', 'memberPresence']);
  assert.deepEqual(operations(applicant, groupId), ['acceptRequest']);
  assert.deepEqual(await memberNames(groupId), [adminName, applicantName, memberName, ownerName].sort());
});

test('rejectGroupJoinRequest: joinPublicGroupDeclined to the applicant only, nobody joins', async () => {
  const [ownerName, memberName, applicantName] = await env.users('owner', 'member', 'applicant');
  const [owner, member, applicant] = await connectAll([ownerName, memberName, applicantName]);
  const groupId = await createGroup(owner, { public: true, approval: true }, [memberName]);
  await applicant.conn.joinGroup({ groupId, message: 'hi' });
  await owner.waitForGroupEvent('requestToJoin', groupId);
  await owner.conn.rejectGroupJoinRequest({ groupId, applicant: applicantName, reason: 'no room' });
  const declined = await applicant.waitForGroupEvent('joinPublicGroupDeclined', groupId);
  assert.equal(declined.from, ownerName);
  await env.barrier([owner, member, applicant], [groupId]);
  assert.deepEqual(operations(applicant, groupId), ['joinPublicGroupDeclined']);
  assert.deepEqual(operations(owner, groupId), ['create', 'requestToJoin']);
  assert.deepEqual(operations(member, groupId), ['directJoined']);
  assert.deepEqual(await memberNames(groupId), [memberName, ownerName].sort());
});

test('rejectGroupInvite: rejectInvite to the inviter only, nobody joins', async () => {
  const [ownerName, memberName, inviteeName] = await env.users('owner', 'member', 'invitee');
  const [owner, member, invitee] = await connectAll([ownerName, memberName, inviteeName]);
  const groupId = await createGroup(owner, { public: false, inviteNeedConfirm: true }, [memberName]);
  await owner.conn.inviteUsersToGroup({ groupId, users: [inviteeName] });
  await invitee.waitForGroupEvent('inviteToJoin', groupId);
  await invitee.conn.rejectGroupInvite({ groupId, invitee: inviteeName });
  const rejected = await owner.waitForGroupEvent('rejectInvite', groupId);
  assert.equal(rejected.from, inviteeName);
  await env.barrier([owner, member, invitee], [groupId]);
  assert.deepEqual(operations(owner, groupId), ['create', 'rejectInvite']);
  assert.deepEqual(operations(member, groupId), ['directJoined']);
  assert.deepEqual(operations(invitee, groupId), ['inviteToJoin']);
  assert.deepEqual(await memberNames(groupId), [memberName, ownerName].sort());
});

test('inviteUsersToGroup with invite_need_confirm: inviteToJoin, then acceptGroupInvite', async () => {
  const [ownerName, memberName, inviteeName] = await env.users('owner', 'member', 'invitee');
  const [owner, member, invitee] = await connectAll([ownerName, memberName, inviteeName]);
  const groupId = await createGroup(owner, { public: false, inviteNeedConfirm: true }, [memberName]);
  await member.waitForGroupEvent('directJoined', groupId);

  await owner.conn.inviteUsersToGroup({ groupId, users: [inviteeName] });
  const invitation = await invitee.waitForGroupEvent('inviteToJoin', groupId);
  assert.equal(invitation.from, ownerName);
  await env.barrier([owner, member, invitee], [groupId]);
  assert.deepEqual(operations(member, groupId), ['directJoined']);
  assert.deepEqual(operations(owner, groupId), ['create']);
  assert.deepEqual(await memberNames(groupId), [memberName, ownerName].sort());

  await invitee.conn.acceptGroupInvite({ groupId, invitee: inviteeName });
  const accepted = await owner.waitForGroupEvent('acceptInvite', groupId);
  assert.equal(accepted.from, inviteeName);
  for (const client of [owner, member]) {
    const presence = await client.waitForGroupEvent('memberPresence', groupId);
    assert.equal(presence.from, inviteeName);
  }
  await env.barrier([owner, member, invitee], [groupId]);
  assert.deepEqual(operations(owner, groupId), ['create', 'acceptInvite', 'memberPresence']);
  assert.deepEqual(operations(member, groupId), ['directJoined', 'memberPresence']);
  assert.deepEqual(operations(invitee, groupId), ['inviteToJoin']);
  assert.deepEqual(await memberNames(groupId), [inviteeName, memberName, ownerName].sort());
});

test('inviteUsersToGroup without confirmation: the invitee is added and hears directJoined', async () => {
  const [ownerName, memberName, inviteeName] = await env.users('owner', 'member', 'invitee');
  const [owner, member, invitee] = await connectAll([ownerName, memberName, inviteeName]);
  const groupId = await createGroup(owner, { public: false, inviteNeedConfirm: false }, [memberName]);
  await member.waitForGroupEvent('directJoined', groupId);

  await owner.conn.inviteUsersToGroup({ groupId, users: [inviteeName] });
  const joined = await invitee.waitForGroupEvent('directJoined', groupId);
  assert.equal(joined.from, ownerName);
  for (const client of [owner, member]) {
    const presence = await client.waitForGroupEvent('memberPresence', groupId);
    assert.equal(presence.from, inviteeName);
  }
  await env.barrier([owner, member, invitee], [groupId]);
  assert.deepEqual(operations(invitee, groupId), ['directJoined']);
  assert.deepEqual(operations(owner, groupId), ['create', 'memberPresence']);
  assert.deepEqual(operations(member, groupId), ['directJoined', 'memberPresence']);
  assert.deepEqual(await memberNames(groupId), [inviteeName, memberName, ownerName].sort());
});

test('leaveGroup: the others hear memberAbsence, the leaver nothing', async () => {
  const [ownerName, stayerName, leaverName] = await env.users('owner', 'stayer', 'leaver');
  const [owner, stayer, leaver] = await connectAll([ownerName, stayerName, leaverName]);
  const groupId = await createGroup(owner, {}, [stayerName, leaverName]);
  await leaver.waitForGroupEvent('directJoined', groupId);
  await stayer.waitForGroupEvent('directJoined', groupId);

  await leaver.conn.leaveGroup({ groupId });
  for (const client of [owner, stayer]) {
    const absence = await client.waitForGroupEvent('memberAbsence', groupId);
    assert.equal(absence.from, leaverName);
  }
  await env.barrier([owner, stayer, leaver], [groupId]);
  assert.deepEqual(operations(leaver, groupId), ['directJoined']);
  assert.deepEqual(operations(owner, groupId), ['create', 'memberAbsence']);
  assert.deepEqual(operations(stayer, groupId), ['directJoined', 'memberAbsence']);
  assert.deepEqual(await memberNames(groupId), [ownerName, stayerName].sort());
});

test('removeGroupMember: removeMember to the removed user, memberAbsence to the rest', async () => {
  const [ownerName, stayerName, kickedName] = await env.users('owner', 'stayer', 'kicked');
  const [owner, stayer, kicked] = await connectAll([ownerName, stayerName, kickedName]);
  const groupId = await createGroup(owner, {}, [stayerName, kickedName]);
  await kicked.waitForGroupEvent('directJoined', groupId);
  await stayer.waitForGroupEvent('directJoined', groupId);

  await owner.conn.removeGroupMember({ groupId, username: kickedName });
  const removed = await kicked.waitForGroupEvent('removeMember', groupId);
  assert.equal(removed.from, ownerName);
  for (const client of [owner, stayer]) {
    const absence = await client.waitForGroupEvent('memberAbsence', groupId);
    assert.equal(absence.from, kickedName);
  }
  await env.barrier([owner, stayer, kicked], [groupId]);
  assert.deepEqual(operations(kicked, groupId), ['directJoined', 'removeMember']);
  assert.deepEqual(operations(owner, groupId), ['create', 'memberAbsence']);
  assert.deepEqual(operations(stayer, groupId), ['directJoined', 'memberAbsence']);
  assert.deepEqual(await memberNames(groupId), [ownerName, stayerName].sort());
});
