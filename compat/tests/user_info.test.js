// User attributes with the unmodified SDK: updateUserInfo stores the caller's own attributes
// (form-encoded, merged with those already set), fetchUserInfoById reads anyone's, and the
// 2 KB limit per user is enforced.
'use strict';

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { setup } = require('../lib/client');

const env = setup();

let alice;
let bob;

before(async () => {
  const [a, b] = await env.users('alice', 'bob');
  alice = await env.connect(a);
  bob = await env.connect(b);
});

test('updateUserInfo sets the caller’s attributes and answers all of them', async () => {
  const reply = await alice.conn.updateUserInfo({ nickname: 'Alice A.', avatarurl: 'https://example.com/a b.png', gender: 2 });
  assert.deepEqual(reply.data, { avatarurl: 'https://example.com/a b.png', gender: '2', nickname: 'Alice A.' });
  // One key at a time keeps the others. (The SDK sends a single key's value unencoded, so a
  // value with '&' would be cut there, on Agora's servers too.)
  const one = await alice.conn.updateUserInfo('sign', 'hello there');
  assert.equal(one.data.sign, 'hello there');
  assert.equal(one.data.nickname, 'Alice A.');
});

test('fetchUserInfoById reads other users’ attributes, all keys or the ones asked', async () => {
  await bob.conn.updateUserInfo({ nickname: 'Bob', mail: 'bob@example.com' });
  const all = await alice.conn.fetchUserInfoById([alice.user, bob.user]);
  assert.equal(all.data[alice.user].nickname, 'Alice A.');
  assert.equal(all.data[alice.user].sign, 'hello there');
  assert.deepEqual(all.data[bob.user], { mail: 'bob@example.com', nickname: 'Bob' });
  const some = await alice.conn.fetchUserInfoById(bob.user, 'nickname');
  assert.deepEqual(some.data, { [bob.user]: { nickname: 'Bob' } });
});

test('attributes over 2 KB per user are refused and change nothing', async () => {
  await assert.rejects(alice.conn.updateUserInfo('ext', 'x'.repeat(2100)));
  const after = await bob.conn.fetchUserInfoById(alice.user);
  assert.equal(after.data[alice.user].ext, undefined);
  assert.equal(after.data[alice.user].nickname, 'Alice A.');
});

test('the app administrator reads and clears a user’s attributes over REST', async () => {
  const got = await env.server.restOk('GET', `/metadata/user/${bob.user}`);
  assert.deepEqual(got.data, { mail: 'bob@example.com', nickname: 'Bob' });
  const cleared = await env.server.restOk('DELETE', `/metadata/user/${bob.user}`);
  assert.equal(cleared.data, true);
  const none = await alice.conn.fetchUserInfoById(bob.user);
  assert.deepEqual(none.data, {});
});
