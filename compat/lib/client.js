// One official-SDK connection per user, with every SDK event recorded in order and a
// `waitFor(predicate, timeoutMs)` that resolves on the first matching event.
'use strict';

const { before, after } = require('node:test');
const { loadSdk, sdkFlavour, dispatchWindowEvent } = require('./sdk');
const { startServer, PASSWORD } = require('./server');

const flavour = sdkFlavour();
const SDK = loadSdk(flavour);
// The SDK logs every frame at debug level by default (`logger.enableAll()` at load time).
// `SDK.logger` is a loglevel-style logger; QUN_SDK_LOG=1 keeps the logging.
if (!process.env.QUN_SDK_LOG) {
  SDK.logger.setConsoleLogVisibility?.(false);
  SDK.logger.disableAll();
}

/**
 * Every websocket frame passes the tap (lib/sdk.js) to its Client: the login's UNREAD reply
 * is noted (see `Client.synced`), and with QUN_TRACE=DIR each connection's msync frames are
 * written, decoded, to DIR/<pid>-<user>.log (command, queue, key/nextKey/isLast, and each
 * meta's id, namespace and MUC operation).
 */
const traceDir = process.env.QUN_TRACE;
const bySocket = new WeakMap(); // socket → Client
const liveClients = new Set();
if (traceDir) require('node:fs').mkdirSync(traceDir, { recursive: true });
globalThis.__qunFrameTap = (direction, socket, data) => {
  let client = bySocket.get(socket);
  if (!client) {
    client = [...liveClients].find((c) => c.conn.sock === socket);
    if (!client) return;
    bySocket.set(socket, client);
  }
  // The bundle's protobufjs root (`connection.prototype.root`) decodes the frames.
  const root = client.conn.root;
  if (direction === 'down') {
    try {
      const frame = root.lookup('easemob.pb.MSync').decode(new Uint8Array(data));
      if (frame.command === 1) {
        const unread = root.lookup('easemob.pb.CommUnreadDL').decode(frame.payload);
        client.unreadReplied(unread.unread.length);
      }
    } catch {
      // not ours to judge here: the SDK reports undecodable frames itself
    }
  }
  if (traceDir) {
    let line;
    try {
      line = describeFrame(root, direction, data);
    } catch (error) {
      line = `${direction} undecodable: ${error.message}`;
    }
    require('node:fs').appendFileSync(`${traceDir}/${process.pid}-${client.user}.log`, `${Date.now()} ${line}\n`);
  }
};

function describeFrame(root, direction, data) {
  const pb = (name) => root.lookup(`easemob.pb.${name}`);
  const frame = pb('MSync').decode(new Uint8Array(data));
  const commands = ['SYNC', 'UNREAD', 'NOTICE', 'PROVISION', 'LOGOUT'];
  const parts = [direction, commands[frame.command] ?? frame.command];
  const str = (v) => (v == null ? v : v.toString());
  const metaText = (m) => {
    let text = `${str(m.id)}/ns${m.ns}`;
    if (m.ns === 2) text += `/op${pb('MUCBody').decode(m.payload).operation}`;
    return text;
  };
  if (frame.command === 0 && frame.payload?.length) {
    if (direction === 'up') {
      const ul = pb('CommSyncUL').decode(frame.payload);
      if (ul.queue) parts.push(`pull ${ul.queue.name} key=${str(ul.key)}`);
      if (ul.meta) parts.push(`meta ${str(ul.meta.id)} ns${ul.meta.ns}`);
    } else {
      const dl = pb('CommSyncDL').decode(frame.payload);
      if (dl.queue) parts.push(`batch ${dl.queue.name} next=${str(dl.nextKey)} last=${dl.isLast}`);
      if (str(dl.metaId) !== '0') parts.push(`ack ${str(dl.metaId)}`);
      parts.push(`[${(dl.metas ?? []).map(metaText).join(' ')}]`);
    }
  } else if (frame.command === 1 && direction === 'down') {
    const unread = pb('CommUnreadDL').decode(frame.payload);
    parts.push(unread.unread.map((q) => `${q.queue.name}:${q.n}`).join(' '));
  } else if (frame.command === 2) {
    parts.push(pb('CommNotice').decode(frame.payload).queue.name);
  }
  return parts.join(' ');
}

/** The SDK's error-type table (`SDK.statusCode`). */
const statusCode = SDK.statusCode;

const DEFAULT_WAIT_MS = 5000;

class Client {
  /**
   * `options.deviceId`: the device this connection is (default: the user name, so a user's
   * reconnections are the same device and resume where that device stopped reading).
   */
  constructor(server, user, options = {}) {
    this.server = server;
    this.user = user;
    /** Every SDK callback as `{name, data, at}`, in arrival order. */
    this.events = [];
    this.waiters = [];
    this.conn = new SDK.connection({
      appKey: server.appKey,
      isHttpDNS: false,
      url: server.wsUrl,
      apiUrl: server.apiUrl,
      https: false,
      isDebug: false,
      // With a `deviceId` option the SDK's device (Provision deviceUuid and resource) is
      // "webim_web_<deviceId>"; not persisted, as one process shares one localStorage.
      deviceId: options.deviceId ?? user,
      isFixedDeviceId: false,
      // Reconnecting as an app would: the SDK's default of 5 attempts (it reads 0 as "the
      // default" too, so reconnects cannot be turned off).
      autoReconnectNumMax: options.autoReconnectNumMax,
      // `delivery: true` makes the SDK acknowledge every received 1:1 message by itself.
      delivery: options.delivery ?? false,
    });
    // The SDK calls `handler[name](data)` for every registered handler object; a proxy
    // records every callback the SDK has, whatever its name.
    const recorder = new Proxy(
      {},
      {
        get: (_target, name) => (typeof name === 'string' && name.startsWith('on') ? (data) => this.record(name, data) : undefined),
      },
    );
    this.conn.addEventHandler('compat', recorder);
    liveClients.add(this);
    this.unreadReplies = 0;
  }

  record(name, data) {
    const event = { name, data, at: Date.now() };
    this.events.push(event);
    for (const waiter of [...this.waiters]) {
      if (waiter.predicate(event)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        clearTimeout(waiter.timer);
        waiter.resolve(event);
      }
    }
  }

  /** The server answered an UNREAD (the login's first, or a heartbeat) listing `queues` queues. */
  unreadReplied(queues) {
    this.unreadReplies += 1;
    if (this.unreadReplies === 1) this.record('__loginUnread', { queues });
  }

  /**
   * Resolves once the login's offline sync is over: the server answered the first UNREAD,
   * and every queue it listed was drained (the SDK's onOfflineMessageSyncFinish). The SDK
   * pulls those queues all at once, outside its notice-driven one-queue-at-a-time order, so
   * tests that assert something did NOT arrive wait for this first.
   */
  async synced(timeoutMs = DEFAULT_WAIT_MS) {
    const unread = await this.waitFor((e) => e.name === '__loginUnread', timeoutMs, 'the login UNREAD reply');
    if (unread.data.queues > 0) {
      await this.waitFor((e) => e.name === 'onOfflineMessageSyncFinish', timeoutMs, 'onOfflineMessageSyncFinish');
    }
  }

  /** Events recorded so far with callback `name` (e.g. 'onGroupEvent'), as their data. */
  received(name, filter = () => true) {
    return this.events.filter((e) => e.name === name && filter(e.data)).map((e) => e.data);
  }

  /** Group events recorded so far, optionally only for one group. */
  groupEvents(groupId) {
    return this.received('onGroupEvent', (e) => groupId === undefined || e.id === groupId);
  }

  /**
   * Resolves with the first event (already recorded, or arriving within `timeoutMs`) for which
   * `predicate(event)` holds; `event` is `{name, data}`. Rejects on timeout.
   */
  waitFor(predicate, timeoutMs = DEFAULT_WAIT_MS, description = 'event') {
    const seen = this.events.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { predicate, resolve };
      waiter.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        const names = this.events.map((e) => e.name + (e.data?.operation ? `:${e.data.operation}` : '')).join(', ');
        reject(new Error(`${this.user}: no ${description} within ${timeoutMs} ms (recorded: ${names})`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Waits for `onGroupEvent` with this operation (and group, if given). */
  waitForGroupEvent(operation, groupId, timeoutMs) {
    return this.waitFor(
      (e) => e.name === 'onGroupEvent' && e.data.operation === operation && (groupId === undefined || e.data.id === groupId),
      timeoutMs,
      `onGroupEvent ${operation}${groupId ? ` for ${groupId}` : ''}`,
    ).then((e) => e.data);
  }

  /** Waits until `count` events named `name` matching `filter` were recorded. */
  async waitForCount(name, count, filter = () => true, timeoutMs = DEFAULT_WAIT_MS) {
    const matches = () => this.received(name, filter).length >= count;
    if (!matches()) {
      await this.waitFor(() => matches(), timeoutMs, `${count} × ${name}`);
    }
    return this.received(name, filter);
  }

  /** `open()` with the password (default) or `{accessToken}`. */
  async open(options = {}) {
    const params = { user: this.user };
    if (options.accessToken) params.accessToken = options.accessToken;
    else params.pwd = options.pwd ?? PASSWORD;
    return this.conn.open(params);
  }

  /** Closes the connection and waits for the SDK to say so. */
  async close() {
    liveClients.delete(this);
    if (!this.conn.isOpened()) {
      // Closed already (e.g. kicked by the server): close() still clears the SDK's timers.
      this.conn.close();
      return;
    }
    const closed = this.waitFor((e) => e.name === 'onDisconnected', 3000, 'onDisconnected').catch(() => {});
    this.conn.close();
    await closed;
  }
}

/** A logged-in client for `user` (password login unless `options.accessToken`). */
async function connect(server, user, options = {}) {
  const client = new Client(server, user, options);
  await client.open(options);
  return client;
}

/** Sends a group message through the SDK; resolves with `send()`'s result. */
function sendGroupText(client, groupId, msg, ext) {
  const message = SDK.message.create({ type: 'txt', chatType: 'groupChat', to: groupId, msg, ...(ext ? { ext } : {}) });
  return client.conn.send(message);
}

function sendGroupCustom(client, groupId, customEvent, customExts, ext) {
  const message = SDK.message.create({
    type: 'custom',
    chatType: 'groupChat',
    to: groupId,
    customEvent,
    customExts,
    ...(ext ? { ext } : {}),
  });
  return client.conn.send(message);
}

/** The user that owns the throwaway groups `barrier` creates. */
/**
 * A private group of `owner` (a connected client) with `members` (connected clients), created
 * with the SDK's `createGroup`; resolves with its id once every member got `directJoined`.
 */
async function createGroup(owner, members, groupname = 'group') {
  const reply = await owner.conn.createGroup({
    data: {
      groupname,
      desc: '',
      members: members.map((m) => m.user),
      public: false,
      approval: false,
      allowinvites: false,
      inviteNeedConfirm: false,
      maxusers: 200,
    },
  });
  const groupId = reply.data.groupid;
  await Promise.all(members.map((m) => m.waitForGroupEvent('directJoined', groupId)));
  return groupId;
}

/**
 * A private group of `ownerName` with `memberNames` (user names), created over REST by the app
 * administrator (nobody needs to be online); resolves with its id.
 */
async function restGroup(server, ownerName, memberNames, groupname = 'group') {
  const reply = await server.restOk('POST', '/chatgroups', {
    owner: ownerName,
    groupname,
    desc: '',
    public: false,
    maxusers: 500,
    members: memberNames,
  });
  return reply.data.groupid;
}

const BARRIER_OWNER = 'zz-barrier';
let barrierCount = 0;

/**
 * Proves that everything the server queued for `clients` before this call has reached them,
 * so a test can assert that an event did NOT arrive. Two markers, one per kind of queue:
 * - personal events (requestToJoin, inviteToJoin, removeMember, ...): a throwaway group is
 *   created by the app admin with these users as members; each gets `directJoined` for it in
 *   the same personal queue, after anything queued there before;
 * - group-wide items (messages, memberPresence, ...): for each of `groups`, a cmd message
 *   (action `barrier-N`) sent by the app admin, after anything in that group's queue before;
 *   awaited by the clients that are members now.
 * Noticed queues are pulled one at a time in notice order, so the markers also come after
 * earlier items of the other queues (which is what a shielded member's check relies on).
 */
async function barrier(server, clients, groups = []) {
  // Markers must come through notices, after the login's own sync.
  await Promise.all(clients.map((client) => client.synced()));
  const marker = `barrier-${++barrierCount}`;
  const created = await server.restOk('POST', '/chatgroups', {
    owner: BARRIER_OWNER,
    groupname: marker,
    desc: marker,
    public: false,
    maxusers: 200,
    members: clients.map((c) => c.user),
  });
  const barrierGroup = created.data.groupid;
  // Which clients are members of each group now (only they get its marker).
  const listeners = new Map();
  for (const group of groups) {
    const members = await server.restOk('GET', `/chatgroups/${group}/users?pagenum=1&pagesize=1000`);
    const names = new Set(members.data.map((m) => m.owner ?? m.member));
    listeners.set(group, new Set(clients.filter((c) => names.has(c.user))));
    await server.restOk('POST', '/messages/chatgroups', {
      from: BARRIER_OWNER,
      to: [group],
      type: 'cmd',
      body: { action: marker },
    });
  }
  await Promise.all(
    clients.map(async (client) => {
      await client.waitForGroupEvent('directJoined', barrierGroup, 5000);
      for (const group of groups) {
        if (!listeners.get(group).has(client)) continue;
        await client.waitFor(
          (e) => e.name === 'onCmdMessage' && e.data.action === marker && e.data.to === group,
          5000,
          `barrier ${marker} in ${group}`,
        );
      }
    }),
  );
  return barrierGroup;
}

/**
 * Registers `before`/`after` hooks for a test file: one fresh server for the file, closed
 * clients and a stopped server at the end. Returns `{server, ready(), connect(user, options),
 * client(user), users(...names), barrier(clients, groups)}`; `server` is set once `ready()`
 * resolved (a file's own `before` hook must `await env.ready()` first).
 */
function setup() {
  let starting = null;
  const env = {
    server: null,
    clients: [],
    /** Starts the server once; every helper awaits it (Node 20 runs root `before` hooks concurrently). */
    ready() {
      starting ??= (async () => {
        const server = await startServer();
        await server.createUsers(BARRIER_OWNER);
        env.server = server;
        return server;
      })();
      return starting;
    },
    /** A logged-in client; `options`: `{pwd | accessToken, deviceId, delivery, autoReconnectNumMax}`. */
    async connect(user, options = {}) {
      await env.ready();
      const client = new Client(env.server, user, options);
      env.clients.push(client);
      await client.open(options);
      return client;
    },
    /** A client that is not logged in yet. */
    client(user, options) {
      const client = new Client(env.server, user, options);
      env.clients.push(client);
      return client;
    },
    /** Registers users with unique names: `users('alice', 'bob')` → ['u1-alice', 'u1-bob']. */
    async users(...names) {
      await env.ready();
      const prefix = `u${++env.userBatch}-`;
      const full = names.map((n) => prefix + n);
      await env.server.createUsers(...full);
      return full;
    },
    userBatch: 0,
    barrier: (clients, groups) => barrier(env.server, clients, groups),
  };
  before(() => env.ready());
  after(async () => {
    await Promise.all(env.clients.map((c) => c.close().catch(() => {})));
    if (starting) await (await starting.catch(() => null))?.stop();
    // Clears the SDK's module-level timers so the test process can exit.
    dispatchWindowEvent('beforeunload');
  });
  return env;
}

module.exports = {
  restGroup,
  SDK,
  flavour,
  statusCode,
  Client,
  connect,
  setup,
  barrier,
  createGroup,
  sendGroupText,
  sendGroupCustom,
  BARRIER_OWNER,
};
