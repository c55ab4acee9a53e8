// Image and file messages through the SDK: `send()` uploads the file (POST /chatfiles) and
// sends a message carrying its URL; the receiver gets the message, and the URL it was handed
// (with the SDK's `em-redirect` and `share-secret` query) serves the same bytes.
'use strict';

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const zlib = require('node:zlib');
const { randomBytes } = require('node:crypto');
const { setup, SDK } = require('../lib/client');

const env = setup();

let alice;
let bob;
let groupId;

before(async () => {
  const names = await env.users('alice', 'bob');
  [alice, bob] = await Promise.all(names.map((n) => env.connect(n)));
  // Made by the app administrator over REST: the SDK's group calls are other tests' subject.
  const created = await env.server.restOk('POST', '/chatgroups', {
    owner: alice.user,
    groupname: 'attachments',
    desc: 'attachments',
    public: false,
    members: [bob.user],
  });
  groupId = created.data.groupid;
  await bob.waitForGroupEvent('directJoined', groupId);
});

/** CRC-32 as PNG chunks need it. */
function crc32(bytes) {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return ~crc >>> 0;
}

/** An RGB PNG of noise, `width` × `height` (noise: large enough to get a thumbnail). */
function noisyPng(width, height) {
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const rowBytes = width * 3 + 1;
  const rows = randomBytes(rowBytes * height);
  for (let row = 0; row < height; row++) rows[row * rowBytes] = 0; // filter: none
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Width and height from a PNG's header. */
const pngSize = (bytes) => [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];

/** A file as an app hands it to `message.create` (what `utils.getFileUrl` makes of an input). */
const sdkFile = (bytes, filename, type) => ({
  data: new File([bytes], filename, { type }),
  filename,
  filetype: filename.split('.').pop(),
});

/** GET a URL as a browser's `<img src>` would: no token, whatever the URL carries. */
async function fetchBytes(url) {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get('content-type'), bytes: Buffer.from(await response.arrayBuffer()) };
}

/** The SDK's own download (`utils.download`, which `downloadFile` uses): resolves the bytes. */
function sdkDownload(client, url, secret) {
  return new Promise((resolve, reject) => {
    SDK.utils.download.call(client.conn, {
      url,
      secret,
      onFileDownloadComplete: (blob) => blob.arrayBuffer().then((b) => resolve(Buffer.from(b)), reject),
      onFileDownloadError: (error) => reject(new Error(`download failed: ${JSON.stringify(error.type)}`)),
    });
  });
}

const receive = (client, name, id) =>
  client.waitFor((e) => e.name === name && e.data.id === id, 10000, `${name} ${id}`).then((e) => e.data);

test('an image message: uploaded by send(), received with a URL that serves the image and its thumbnail', async () => {
  const png = noisyPng(300, 200);
  const message = SDK.message.create({
    type: 'img',
    chatType: 'singleChat',
    to: bob.user,
    file: sdkFile(png, 'cat.png', 'image/png'),
    width: 300,
    height: 200,
  });
  const sent = await alice.conn.send(message);
  const image = await receive(bob, 'onImageMessage', sent.serverMsgId);
  assert.equal(image.from, alice.user);
  assert.deepEqual([image.width, image.height], [300, 200]);
  const filesUrl = `${env.server.apiUrl}/qun/demo/chatfiles/`;
  assert.ok(image.url.startsWith(filesUrl), image.url);
  assert.match(image.url, /\?em-redirect=true&share-secret=[\w-]+$/);
  assert.ok(image.secret);

  const original = await fetchBytes(image.url);
  assert.equal(original.status, 200);
  assert.equal(original.type, 'image/png');
  assert.ok(original.bytes.equals(png), 'the URL serves the bytes that were sent');
  assert.ok((await sdkDownload(bob, image.url, image.secret)).equals(png), "the SDK's download gets them too");

  const thumbnail = await fetchBytes(image.thumb);
  assert.equal(thumbnail.status, 200);
  assert.deepEqual(pngSize(thumbnail.bytes), [170, 113], `thumbnail ${image.thumb}`);

  // The secret is what opens it: the URL without it is refused as the SDK expects.
  const bare = await fetch(image.url.split('?')[0]);
  assert.equal(bare.status, 403);
  assert.equal((await bare.json()).error_description, 'chatfile no permission');
});

test('a file message to a group reaches the members with a URL that serves the file', async () => {
  const text = Buffer.from('minutes of the meeting: ✓ ship it\n'.repeat(100));
  const message = SDK.message.create({
    type: 'file',
    chatType: 'groupChat',
    to: groupId,
    file: sdkFile(text, 'minutes.txt', 'text/plain'),
    filename: 'minutes.txt',
  });
  const sent = await bob.conn.send(message);
  const file = await receive(alice, 'onFileMessage', sent.serverMsgId);
  assert.equal(file.to, groupId);
  assert.equal(file.filename, 'minutes.txt');
  const downloaded = await fetchBytes(file.url);
  assert.equal(downloaded.status, 200);
  assert.equal(downloaded.type, 'text/plain');
  assert.ok(downloaded.bytes.equals(text));
});

test('a file over 7.5 MB: the SDK tries part upload, falls back to one upload, and it arrives whole', async () => {
  const big = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
  const message = SDK.message.create({
    type: 'file',
    chatType: 'singleChat',
    to: bob.user,
    file: sdkFile(big, 'big.bin', 'application/octet-stream'),
    filename: 'big.bin',
  });
  const sent = await alice.conn.send(message);
  const file = await receive(bob, 'onFileMessage', sent.serverMsgId);
  const downloaded = await fetchBytes(file.url);
  assert.equal(downloaded.status, 200);
  assert.ok(downloaded.bytes.equals(big), `${downloaded.bytes.length} bytes`);
});
