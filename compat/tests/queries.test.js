// Group queries through the SDK (which parses the REST replies itself, so a wrong shape throws
// inside it): getGroupInfo, listGroupMembers, getJoinedGroups, getPublicGroups — compared with
// what the server says to the app admin.
'use strict';

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { setup, flavour } = require('../lib/client');

const env = setup();

let alice; // owner of every group
let bob; // member of every group
let carol; // member of `priv` only
let dave; // member of nothing
let pub; // public, open
let priv; // private
let extraPublic; // more public groups, for paging

async function create(owner, data) {
  const reply = await owner.conn.createGroup({
    data: { approval: false, allowinvites: false, inviteNeedConfirm: false, desc: '', ...data },
  });
  return reply.data.groupid;
}

before(async () => {
  const names = await env.users('alice', 'bob', 'carol', 'dave');
  [alice, bob, carol, dave] = await Promise.all(names.map((n) => env.connect(n)));
  pub = await create(alice, { groupname: 'public one', desc: 'open to all', members: [bob.user], public: true, maxusers: 300 });
  priv = await create(alice, {
    groupname: 'private one',
    desc: 'invite only',
    members: [bob.user, carol.user],
    public: false,
    allowinvites: true,
    maxusers: 50,
  });
  extraPublic = [];
  for (const name of ['extra a', 'extra b', 'extra c']) {
    extraPublic.push(await create(alice, { groupname: name, members: [], public: true, approval: true, maxusers: 200 }));
  }
});

/** The server's own view of a group (REST, app admin). */
async function serverGroup(groupId) {
  return (await env.server.restOk('GET', `/chatgroups/${groupId}`)).data[0];
}

test('getGroupInfo returns the group as the server has it, with the caller’s permission', async () => {
  const reply = await bob.conn.getGroupInfo({ groupId: pub });
  assert.equal(reply.type, 0);
  assert.equal(reply.data.length, 1);
  const info = reply.data[0];
  const server = await serverGroup(pub);
  for (const key of ['id', 'name', 'description', 'owner', 'maxusers', 'public', 'allowinvites', 'membersonly',
    'invite_need_confirm', 'affiliations_count', 'custom', 'created', 'mute', 'disabled']) {
    assert.deepEqual(info[key], server[key], key);
  }
  assert.equal(info.id, pub);
  assert.equal(info.name, 'public one');
  assert.equal(info.description, 'open to all');
  assert.equal(info.owner, alice.user);
  assert.equal(info.maxusers, 300);
  assert.equal(info.public, true);
  assert.equal(info.affiliations_count, 2);
  assert.equal(info.permission, 'member');
  const affiliations = info.affiliations.map((a) => a.owner ?? a.member).sort();
  assert.deepEqual(affiliations, [alice.user, bob.user].sort());
  assert.ok(info.affiliations.every((a) => typeof a.joined_time === 'number'), 'joined_time=true is honoured');

  // Several ids at once, and the owner's permission.
  const both = await alice.conn.getGroupInfo({ groupId: [pub, priv] });
  assert.deepEqual(both.data.map((g) => g.id), [pub, priv]);
  assert.deepEqual(both.data.map((g) => g.permission), ['owner', 'owner']);
  assert.equal(both.data[1].public, false);
  assert.equal(both.data[1].allowinvites, true);
  assert.equal(both.data[1].affiliations_count, 3);
});

test('listGroupMembers pages through the members as the server lists them', async () => {
  const server = await env.server.restOk('GET', `/chatgroups/${priv}/users?pagenum=1&pagesize=100`);
  const expected = server.data;
  assert.equal(expected.length, 3);
  const page1 = await carol.conn.listGroupMembers({ groupId: priv, pageNum: 1, pageSize: 2 });
  const page2 = await carol.conn.listGroupMembers({ groupId: priv, pageNum: 2, pageSize: 2 });
  assert.equal(page1.type, 0);
  assert.equal(page1.data.length, 2);
  assert.equal(page2.data.length, 1);
  assert.deepEqual([...page1.data, ...page2.data], expected);
  // Each entry names one user, as `owner` or `member`.
  const owners = expected.filter((m) => m.owner).map((m) => m.owner);
  assert.deepEqual(owners, [alice.user]);
  assert.deepEqual(expected.filter((m) => m.member).map((m) => m.member).sort(), [bob.user, carol.user].sort());
});

test('getJoinedGroups (plain, pageNum from 1) lists the caller’s groups', async () => {
  const server = await env.server.restOk('GET', `/users/${bob.user}/joined_chatgroups?pagenum=1&pagesize=100`);
  const reply = await bob.conn.getJoinedGroups({ pageNum: 1, pageSize: 20 });
  assert.equal(reply.type, 0);
  const ids = reply.data.map((g) => g.groupid).sort();
  assert.deepEqual(ids, [pub, priv].sort());
  assert.deepEqual(ids, server.data.map((g) => g.groupid).sort());
  for (const group of reply.data) {
    assert.equal(group.groupname, group.groupid === pub ? 'public one' : 'private one');
  }
  if (flavour === 'easemob') {
    // 4.21.1 asks with version=v3 and maps the reply to {groupid, groupname, disabled, role}.
    assert.ok(reply.data.every((g) => g.role === 'member' && g.disabled === false));
  }
  const none = await dave.conn.getJoinedGroups({ pageNum: 1, pageSize: 20 });
  assert.deepEqual(none.data, []);
});

test('getJoinedGroups with needAffiliations and needRole (pageNum from 0)', async () => {
  const reply = await carol.conn.getJoinedGroups({ pageNum: 0, pageSize: 20, needAffiliations: true, needRole: true });
  assert.equal(reply.type, 0);
  assert.equal(reply.entities.length, 1);
  const [group] = reply.entities;
  assert.equal(group.groupId, priv);
  assert.equal(group.groupName, 'private one');
  assert.equal(group.role, 'member');
  assert.equal(group.affiliationsCount, 3);
  assert.equal(group.public, false);
  const owner = await alice.conn.getJoinedGroups({ pageNum: 0, pageSize: 20, needAffiliations: true, needRole: true });
  assert.deepEqual(owner.entities.map((g) => g.groupId).sort(), [pub, priv, ...extraPublic].sort());
  assert.ok(owner.entities.every((g) => g.role === 'owner'));
});

test('getPublicGroups lists public groups only, and pages with its cursor', async () => {
  const server = await env.server.restOk('GET', '/publicchatgroups?limit=100');
  const allPublic = [pub, ...extraPublic].sort();
  assert.deepEqual(server.data.map((g) => g.groupid).sort(), allPublic);

  const reply = await dave.conn.getPublicGroups({ limit: 20 });
  assert.equal(reply.type, 0);
  const ids = reply.data.map((g) => g.groupid);
  assert.deepEqual([...ids].sort(), allPublic);
  assert.ok(!ids.includes(priv));
  assert.equal(reply.data.find((g) => g.groupid === pub).groupname, 'public one');

  // Two at a time: the cursor of one page fetches the next; every public group once.
  const seen = [];
  let cursor;
  for (let page = 0; page < 4; page++) {
    const part = await dave.conn.getPublicGroups({ limit: 2, cursor });
    assert.ok(part.data.length <= 2);
    seen.push(...part.data.map((g) => g.groupid));
    cursor = part.cursor;
    if (!cursor) break;
  }
  assert.deepEqual([...seen].sort(), allPublic);
  assert.equal(new Set(seen).size, seen.length);
});
