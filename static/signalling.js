/**
 * signalling.js — the browser half of Sebastian's signalling protocol, version 1
 * (docs/protocol.md). One ES module, no build step, no dependencies.
 *
 *   import { BoothConnection } from '/static/signalling.js';
 *
 *   const booth = new BoothConnection({
 *     deviceKey,              // required: the booth's device key (sent in `hello`, never in a URL)
 *     localStream,            // MediaStream to send (camera + microphone), or null to only receive
 *     autoJoin: true,         // join the booking whose join window is open, when it opens
 *     url: undefined,         // default: same origin, ws(s)://<host>/api/v1/signalling
 *     client: 'kiosk/1.0',    // software name, for the server's logs
 *   });
 *   booth.addEventListener('remote-stream', (e) => { video.srcObject = e.detail.stream; });
 *   booth.connect();
 *
 * Methods:
 *   connect()                 open the socket (and reopen it after drops, with backoff) until close()
 *   join(bookingId)           enter a booking's room by hand (autoJoin does it by itself)
 *   leave()                   leave the current room (autoJoin will not rejoin that booking)
 *   setLocalStream(stream)    change what is sent, in the current call and later ones
 *   close()                   leave for good: close calls and the socket, stop reconnecting
 *   serverNow()               Date on the server's clock (kiosk clocks can be wrong)
 *
 * Read-only properties: state, boothId, bookingId, schedule (the last `schedule` message),
 * peers (Map booth id -> {role, status, pc}).
 *
 * Events (CustomEvent, data in `detail`):
 *   'state'         {state, bookingId}; state is one of
 *                   connecting | idle | waiting | calling | in-call | reconnecting | closed
 *                   (waiting: in the room, partner absent; calling: negotiating; in-call: media up)
 *   'schedule'      the `schedule` message (bookings in the booth's own time zone)
 *   'peer-status'   {peer, state}: waiting | joined | reconnecting | back | left
 *   'remote-stream' {peer, stream}: show it in a <video>
 *   'countdown'     {bookingId, remainingSeconds, end (Date), extended}: also sent on `extended`
 *   'closed'        {bookingId, reason}: the room closed (slot_ended | cancelled | moved | left)
 *   'retry'         {at (Date)}: the server could not be reached; the next try is at `at`
 *   'error'         {code, message, fatal}; fatal (unauthorized, replaced, unsupported_version)
 *                   means the connection stopped for good and staff must act
 *
 * What it does for the page: hello with the device key; resume (resume_token + last_seq)
 * after a dropped socket, at once while in a room, else with backoff 1 s .. 30 s plus jitter;
 * after server_going_away waits retry_after + 0-5 s; app-level ping every heartbeat_interval and
 * reconnect when nothing arrived for idle_timeout; perfect negotiation with the server-assigned
 * role (impolite offers first and wins collisions, polite rolls back); trickle ICE both ways
 * with end-of-candidates; ICE restart on `ice_restart`, on failure, and after a resume.
 */

const PROTOCOL_VERSION = 1;
const DEFAULT_PATH = '/api/v1/signalling';
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const GOING_AWAY_JITTER_MS = 5000;
const ICE_CHECK_MS = 4000; // how long ICE may stay down before an ICE restart is asked for
const TOO_EARLY_RETRY_MS = 5000;
const HEARTBEAT_MS = 20000; // until welcome says heartbeat_interval
const IDLE_TIMEOUT_MS = 45000; // until welcome says idle_timeout
const SHUTDOWN_RETRY_AFTER_MS = 5000; // when server_going_away has no retry_after
// Close codes after which reconnecting by ourselves would be wrong (docs/protocol.md section 9).
const FINAL_CLOSES = new Map([
  [4001, 'unauthorized'],
  [4003, 'unsupported_version'],
  [4005, 'replaced'],
]);
const ROOM_TYPES = new Set([
  'joined', 'peer_status', 'offer', 'answer', 'candidate', 'ice_restart', 'countdown', 'extended', 'room_closed',
]);

export class BoothConnection extends EventTarget {
  constructor({ deviceKey, localStream = null, autoJoin = true, url, client = 'kiosk/1.0' } = {}) {
    super();
    if (!deviceKey) throw new TypeError('BoothConnection needs a deviceKey');
    this._deviceKey = deviceKey;
    this._localStream = localStream;
    this._autoJoin = autoJoin;
    this._client = client;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this._url = url || `${scheme}//${location.host}${DEFAULT_PATH}`;

    this.state = 'closed';
    this.boothId = null;
    this.bookingId = null; // the room we are in (or resuming)
    this.schedule = null;
    this.peers = new Map();

    this._ws = null;
    this._wanted = false; // connect() called and close() not
    this._welcomed = false;
    this._resumeToken = null;
    this._lastSeq = 0;
    this._iceServers = [];
    this._clockOffsetMs = 0;
    this._heartbeatMs = HEARTBEAT_MS;
    this._idleMs = IDLE_TIMEOUT_MS;
    this._backoffMs = BACKOFF_FIRST_MS;
    this._retryAfterMs = null; // set by server_going_away
    this._reconnectTimer = null;
    this._pingTimer = null;
    this._joinTimer = null;
    this._lastHeard = 0;
    this._pingDue = 0;
    this._fatalReported = false; // an `error` already said why the coming close is final
    this._roomEnd = null;
    this._messageId = 0;
    this._joining = null; // {bookingId, id} of a join sent and not answered yet
    this._skipAutoJoin = new Set(); // bookings left or closed: do not auto-join them again
    this._inbox = Promise.resolve(); // incoming messages are handled one at a time, in order
  }

  // --- public API ----------------------------------------------------------------------

  connect() {
    this._wanted = true;
    if (!this._ws) this._open();
  }

  join(bookingId) {
    this._skipAutoJoin.delete(bookingId);
    this._sendJoin(bookingId);
  }

  leave() {
    const bookingId = this.bookingId;
    if (bookingId == null) return;
    this._skipAutoJoin.add(bookingId);
    this._send({ type: 'leave', booking_id: bookingId });
    this._endRoom(bookingId, 'left');
  }

  setLocalStream(stream) {
    this._localStream = stream;
    for (const peer of this.peers.values()) {
      if (!peer.pc) continue;
      for (const track of stream ? stream.getTracks() : []) {
        const transceiver = peer.pc.getTransceivers().find((t) => !t.stopped && t.receiver.track.kind === track.kind);
        if (!transceiver) {
          peer.pc.addTrack(track, stream);
          continue;
        }
        transceiver.sender.replaceTrack(track);
        transceiver.sender.setStreams?.(stream);
        if (transceiver.direction === 'recvonly') transceiver.direction = 'sendrecv'; // renegotiates
      }
    }
  }

  close() {
    this._wanted = false;
    clearTimeout(this._reconnectTimer);
    clearTimeout(this._joinTimer);
    if (this.bookingId != null) {
      this._send({ type: 'leave', booking_id: this.bookingId });
      this._endRoom(this.bookingId, 'left');
    }
    this._stopHeartbeat();
    if (this._ws) {
      const ws = this._ws;
      this._ws = null;
      ws.close(1000, 'bye');
    }
    this._setState('closed');
  }

  serverNow() {
    return new Date(Date.now() + this._clockOffsetMs);
  }

  // --- socket --------------------------------------------------------------------------

  _open() {
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    this._welcomed = false;
    this._joining = null;
    this._fatalReported = false;
    this._setState(this.bookingId != null ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(this._url);
    } catch (err) {
      this._emitError('connect_failed', String(err), false);
      this._scheduleReconnect();
      return;
    }
    this._ws = ws;
    ws.onopen = () => {
      this._lastHeard = Date.now();
      const hello = { type: 'hello', version: PROTOCOL_VERSION, device_key: this._deviceKey, client: this._client };
      if (this.bookingId != null && this._resumeToken) {
        hello.resume_token = this._resumeToken;
        hello.last_seq = this._lastSeq;
      }
      this._sendOn(ws, hello);
      this._startHeartbeat(ws);
    };
    ws.onmessage = (event) => {
      if (ws !== this._ws) return;
      this._lastHeard = Date.now();
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return; // the server only sends JSON text; ignore anything else
      }
      this._inbox = this._inbox.then(() => this._handle(msg)).catch((err) => {
        this._emitError('client_error', `${msg.type}: ${err && err.message ? err.message : err}`, false);
      });
    };
    ws.onclose = (event) => {
      if (ws !== this._ws) return; // a socket we already gave up on
      this._ws = null;
      this._stopHeartbeat();
      this._onSocketClosed(event.code, event.reason);
    };
  }

  _onSocketClosed(code, reason) {
    if (!this._wanted) return;
    const final = FINAL_CLOSES.get(code);
    if (final) {
      this._wanted = false;
      this._dropRoomLocally('left');
      // The server usually said why in an `error` just before the close: say it once.
      if (!this._fatalReported) this._emitError(final, reason || `closed with ${code}`, true);
      this._setState('closed');
      return;
    }
    if (this.bookingId != null) this._setState('reconnecting');
    else this._setState('connecting');
    if (this._retryAfterMs != null) {
      const delay = this._retryAfterMs + Math.random() * GOING_AWAY_JITTER_MS;
      this._retryAfterMs = null;
      this._reconnectTimer = setTimeout(() => this._open(), delay);
    } else if (code === 4002 || (this.bookingId != null && this._welcomed)) {
      // Inside a room the resume grace is short: first try again at once.
      this._reconnectTimer = setTimeout(() => this._open(), 0);
    } else {
      this._scheduleReconnect();
    }
  }

  _scheduleReconnect() {
    const delay = this._backoffMs * (0.5 + Math.random() * 0.5);
    this._backoffMs = Math.min(this._backoffMs * 2, BACKOFF_MAX_MS);
    this._reconnectTimer = setTimeout(() => this._open(), delay);
    this._emit('retry', { at: new Date(Date.now() + delay) });
  }

  _startHeartbeat(ws) {
    this._stopHeartbeat();
    this._pingTimer = setInterval(() => {
      if (ws !== this._ws) return;
      if (Date.now() - this._lastHeard > this._idleMs) {
        // Nothing at all for idle_timeout: the socket is dead even if the browser has not noticed.
        this._ws = null;
        this._stopHeartbeat();
        try { ws.close(4000, 'idle'); } catch { /* already closing */ }
        this._onSocketClosed(1006, 'idle');
        return;
      }
      if (this._welcomed) this._sendOn(ws, { type: 'ping', id: ++this._messageId });
    }, Math.min(this._heartbeatMs, 5000));
    this._pingDue = Date.now() + this._heartbeatMs;
  }

  _stopHeartbeat() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  /** Send a connection message (self-test, call_stats) once welcomed; false when not connected. */
  send(msg) {
    if (!(this._ws && this._ws.readyState === WebSocket.OPEN && this._welcomed)) return false;
    this._sendOn(this._ws, msg);
    return true;
  }

  _send(msg) {
    if (this._ws && this._ws.readyState === WebSocket.OPEN && this._welcomed) this._sendOn(this._ws, msg);
  }

  _sendOn(ws, msg) {
    if (ws.readyState !== WebSocket.OPEN) return;
    // Pings go every heartbeat_interval, not every check of the idle watchdog.
    if (msg.type === 'ping') {
      if (Date.now() < this._pingDue) return;
      this._pingDue = Date.now() + this._heartbeatMs;
    }
    ws.send(JSON.stringify(msg));
  }

  // --- incoming messages ---------------------------------------------------------------

  async _handle(msg) {
    if (ROOM_TYPES.has(msg.type)) {
      if (msg.type !== 'joined') {
        if (msg.booking_id !== this.bookingId) return; // from a room we already left
        if (typeof msg.seq === 'number' && msg.seq <= this._lastSeq) return; // replayed twice
      }
      await this._handleRoom(msg);
      if (typeof msg.seq === 'number' && (msg.type === 'joined' || msg.booking_id === this.bookingId)) {
        this._lastSeq = msg.seq;
      }
      return;
    }
    switch (msg.type) {
      case 'welcome': return this._onWelcome(msg);
      case 'schedule': return this._onSchedule(msg);
      case 'error': return this._onError(msg);
      case 'server_going_away':
        this._retryAfterMs = msg.retry_after != null ? msg.retry_after * 1000 : SHUTDOWN_RETRY_AFTER_MS;
        return undefined;
      case 'pong': return undefined;
      default:
        // Messages outside the call (the self-test, protocol section 13) go to whoever listens
        // (static/selftest.js); later 1.x servers may add more, which nobody hears.
        this.dispatchEvent(new CustomEvent('message', { detail: msg }));
        return undefined;
    }
  }

  _onWelcome(msg) {
    this._welcomed = true;
    this._backoffMs = BACKOFF_FIRST_MS;
    this.boothId = msg.booth_id;
    this._resumeToken = msg.resume_token;
    this._iceServers = msg.ice_servers || [];
    if (msg.server_time) this._clockOffsetMs = Date.parse(msg.server_time) - Date.now();
    if (msg.heartbeat_interval) this._heartbeatMs = msg.heartbeat_interval * 1000;
    if (msg.idle_timeout) this._idleMs = msg.idle_timeout * 1000;
    this._pingDue = Date.now() + this._heartbeatMs;
    if (this.bookingId != null && msg.resumed) {
      // Missed room messages follow. Our peer connections survived; their network path may not.
      this._setState(this._callState());
      if (msg.resync) {
        // The server restarted and may have lost signals after our last_seq: keep the call and
        // renegotiate (docs/protocol.md, Resume) instead of waiting for ICE to fail.
        for (const peerId of this.peers.keys()) this._renegotiate(peerId);
      } else {
        for (const peerId of this.peers.keys()) this._checkIceSoon(peerId);
      }
    } else if (this.bookingId != null) {
      // Not resumed (an `error` resume_failed follows): start again with a fresh join.
      const bookingId = this.bookingId;
      this._dropRoomLocally(null);
      this._sendJoin(bookingId);
    } else {
      this._setState('idle');
    }
  }

  _onSchedule(msg) {
    this.schedule = msg;
    this._emit('schedule', msg);
    this._planAutoJoin();
  }

  _onError(msg) {
    if (this._joining && msg.ref === this._joining.id) this._joining = null;
    switch (msg.code) {
      case 'resume_failed':
        return; // handled by the welcome with resumed: false
      case 'too_early':
        // Our idea of the server's clock was a little ahead: try again shortly.
        clearTimeout(this._joinTimer);
        this._joinTimer = setTimeout(() => this._planAutoJoin(), TOO_EARLY_RETRY_MS);
        break;
      case 'slot_ended':
      case 'cancelled':
      case 'moved':
      case 'not_booked':
        if (this.bookingId != null) this._endRoom(this.bookingId, msg.code === 'not_booked' ? 'left' : msg.code);
        break;
      case 'peer_absent':
      case 'unexpected_answer':
        return; // a race with the partner leaving or rejoining; the room sorts it out
      default:
        break;
    }
    const fatal = [...FINAL_CLOSES.values()].includes(msg.code);
    if (fatal) this._fatalReported = true;
    this._emitError(msg.code, msg.message || msg.code, fatal);
  }

  async _handleRoom(msg) {
    switch (msg.type) {
      case 'joined': {
        clearTimeout(this._joinTimer);
        this._joining = null;
        this._closePeers();
        this.bookingId = msg.booking_id;
        this._roomEnd = msg.end ? new Date(msg.end) : null;
        if (msg.ice_servers && msg.ice_servers.length) this._iceServers = msg.ice_servers;
        for (const info of msg.peers) {
          this.peers.set(info.booth_id, { role: info.role, status: 'waiting', pc: null });
        }
        this._setState('waiting');
        break;
      }
      case 'peer_status': {
        const peer = this.peers.get(msg.peer);
        if (!peer) break;
        peer.status = msg.state;
        this._emit('peer-status', { peer: msg.peer, state: msg.state });
        if (msg.state === 'joined') {
          this._newPeerConnection(msg.peer); // a fresh connection on the other side
        } else if (msg.state === 'reconnecting' && !peer.pc) {
          this._newPeerConnection(msg.peer); // our offer waits for its resume
        } else if (msg.state === 'back') {
          this._checkIceSoon(msg.peer);
        } else if (msg.state === 'left') {
          this._closePeer(msg.peer);
        }
        this._setState(this._callState());
        break;
      }
      case 'offer':
      case 'answer':
        await this._onDescription(msg.from, { type: msg.type, sdp: msg.sdp });
        break;
      case 'candidate':
        await this._onCandidate(msg.from, msg.candidate);
        break;
      case 'ice_restart': {
        const peer = this.peers.get(msg.from);
        if (peer && peer.pc) peer.pc.restartIce();
        break;
      }
      case 'countdown':
        this._emit('countdown', {
          bookingId: msg.booking_id, remainingSeconds: msg.remaining_seconds, end: new Date(msg.end), extended: false,
        });
        break;
      case 'extended': {
        this._roomEnd = new Date(msg.end);
        if (msg.ice_servers && msg.ice_servers.length) {
          this._iceServers = msg.ice_servers;
          for (const peer of this.peers.values()) {
            if (peer.pc) peer.pc.setConfiguration({ ...peer.pc.getConfiguration(), iceServers: msg.ice_servers });
          }
        }
        const remaining = Math.ceil((this._roomEnd - this.serverNow()) / 1000);
        this._emit('countdown', {
          bookingId: msg.booking_id, remainingSeconds: remaining, end: this._roomEnd, extended: true,
        });
        break;
      }
      case 'room_closed':
        // A moved booking is joined again at its new time (the next schedule shows it).
        if (msg.reason !== 'moved') this._skipAutoJoin.add(msg.booking_id);
        this._endRoom(msg.booking_id, msg.reason);
        break;
      default:
        break;
    }
  }

  // --- rooms and joining ---------------------------------------------------------------

  _sendJoin(bookingId) {
    clearTimeout(this._joinTimer);
    if (!this._ws || !this._welcomed) return; // the welcome of the next connection plans it again
    // One join in flight at a time: a second one would make the partner start its call afresh.
    this._joining = { bookingId, id: `join-${++this._messageId}` };
    this._send({ type: 'join', id: this._joining.id, booking_id: bookingId });
  }

  _planAutoJoin() {
    clearTimeout(this._joinTimer);
    if (!this._wanted || !this._autoJoin || this.bookingId != null || this._joining || !this.schedule) return;
    if (!this._welcomed) return;
    const now = this.serverNow().getTime();
    let next = null;
    for (const booking of this.schedule.bookings || []) {
      if (this._skipAutoJoin.has(booking.booking_id)) continue;
      const opens = Date.parse(booking.join_opens_at);
      const ends = Date.parse(booking.end);
      if (ends <= now) continue;
      if (opens <= now) {
        this._sendJoin(booking.booking_id);
        return;
      }
      if (next === null || opens < next) next = opens;
    }
    if (next !== null) {
      // setTimeout cannot wait more than 2^31 ms; a schedule only covers 24 h anyway.
      this._joinTimer = setTimeout(() => this._planAutoJoin(), Math.min(next - now + 50, 2 ** 31 - 1));
    }
  }

  _endRoom(bookingId, reason) {
    if (bookingId !== this.bookingId) return;
    this._dropRoomLocally(reason);
    this._setState(this._welcomed ? 'idle' : this.state);
    this._planAutoJoin();
  }

  _dropRoomLocally(reason) {
    const bookingId = this.bookingId;
    this._closePeers();
    this.bookingId = null;
    this._lastSeq = 0;
    this._roomEnd = null;
    if (reason && bookingId != null) this._emit('closed', { bookingId, reason });
  }

  _callState() {
    if (this.bookingId == null) return this._welcomed ? 'idle' : 'connecting';
    if (!this._ws || !this._welcomed) return 'reconnecting';
    const pcs = [...this.peers.values()].map((p) => p.pc).filter(Boolean);
    if (pcs.length === 0) return 'waiting';
    if (pcs.some((pc) => pc.connectionState === 'connected')) return 'in-call';
    return 'calling';
  }

  // --- perfect negotiation -------------------------------------------------------------

  _newPeerConnection(peerId) {
    const peer = this.peers.get(peerId);
    if (!peer) return null;
    this._closePeer(peerId);
    const pc = new RTCPeerConnection({ iceServers: this._iceServers });
    Object.assign(peer, {
      pc, makingOffer: false, ignoreOffer: false, answeredOnce: false, streams: new Set(), iceTimer: null,
    });
    const polite = peer.role === 'polite';
    const signal = (msg) => {
      if (peer.pc !== pc) return; // a connection we replaced
      this._send({ ...msg, booking_id: this.bookingId, to: peerId });
    };

    pc.onnegotiationneeded = async () => {
      // The impolite booth makes the first offer (protocol section 7); the polite one only
      // renegotiates once a first exchange is done, which avoids a collision on every call.
      if (polite && !peer.answeredOnce) return;
      try {
        peer.makingOffer = true;
        await pc.setLocalDescription();
        signal({ type: 'offer', sdp: pc.localDescription.sdp });
      } catch (err) {
        this._emitError('negotiation_failed', String(err), false);
      } finally {
        peer.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      signal({ type: 'candidate', candidate: candidate ? candidateJSON(candidate) : null });
    };
    pc.ontrack = ({ track, streams }) => {
      const stream = streams[0] || new MediaStream([track]);
      if (peer.pc !== pc || peer.streams.has(stream.id)) return;
      peer.streams.add(stream.id);
      this._emit('remote-stream', { peer: peerId, stream });
    };
    pc.onconnectionstatechange = () => {
      if (peer.pc !== pc) return;
      this._setState(this._callState());
    };
    pc.oniceconnectionstatechange = () => {
      if (peer.pc !== pc) return;
      const state = pc.iceConnectionState;
      if (state === 'failed') this._askIceRestart(peerId);
      else if (state === 'disconnected') this._checkIceSoon(peerId);
    };

    if (this._localStream) {
      for (const track of this._localStream.getTracks()) pc.addTrack(track, this._localStream);
    } else {
      pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.addTransceiver('video', { direction: 'recvonly' });
    }
    this._setState(this._callState());
    return pc;
  }

  async _onDescription(peerId, description) {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    let pc = peer.pc;
    if (!pc) {
      if (description.type !== 'offer') return;
      pc = this._newPeerConnection(peerId);
    }
    const polite = peer.role === 'polite';
    const collision = description.type === 'offer' && (peer.makingOffer || pc.signalingState !== 'stable');
    peer.ignoreOffer = !polite && collision;
    if (peer.ignoreOffer) return;
    if (description.type === 'answer' && pc.signalingState !== 'have-local-offer') return; // stale
    await pc.setRemoteDescription(description); // rolls back our own offer on a collision
    if (description.type === 'offer') {
      await pc.setLocalDescription();
      peer.answeredOnce = true;
      this._send({ type: 'answer', booking_id: this.bookingId, to: peerId, sdp: pc.localDescription.sdp });
    } else {
      peer.answeredOnce = true;
    }
  }

  async _onCandidate(peerId, candidate) {
    const peer = this.peers.get(peerId);
    if (!peer || !peer.pc) return;
    try {
      // null is end of candidates; addIceCandidate() without argument says just that.
      if (candidate === null) await peer.pc.addIceCandidate();
      else await peer.pc.addIceCandidate(candidate);
    } catch (err) {
      if (!peer.ignoreOffer) throw err; // candidates of an offer we ignored are expected to fail
    }
  }

  _checkIceSoon(peerId) {
    const peer = this.peers.get(peerId);
    if (!peer || !peer.pc) return;
    clearTimeout(peer.iceTimer);
    const pc = peer.pc;
    peer.iceTimer = setTimeout(() => {
      if (peer.pc !== pc || this.bookingId == null) return;
      if (!['connected', 'completed'].includes(pc.iceConnectionState)) this._askIceRestart(peerId);
    }, ICE_CHECK_MS);
  }

  _askIceRestart(peerId) {
    const peer = this.peers.get(peerId);
    if (!peer || !peer.pc) return;
    // The impolite side restarts itself (a new offer); the polite side asks it to.
    if (peer.role === 'impolite') peer.pc.restartIce();
    else this._send({ type: 'ice_restart', booking_id: this.bookingId, to: peerId });
  }

  async _renegotiate(peerId) {
    // After a resync an offer or answer of ours may have been lost on the way: drop an offer
    // still waiting, then ICE-restart as after any failure (a fresh offer from the impolite side).
    const peer = this.peers.get(peerId);
    if (!peer || !peer.pc) return;
    if (peer.pc.signalingState === 'have-local-offer') await peer.pc.setLocalDescription({ type: 'rollback' });
    this._askIceRestart(peerId);
  }

  _closePeer(peerId) {
    const peer = this.peers.get(peerId);
    if (!peer || !peer.pc) return;
    clearTimeout(peer.iceTimer);
    const pc = peer.pc;
    peer.pc = null;
    pc.onnegotiationneeded = pc.onicecandidate = pc.ontrack = null;
    pc.onconnectionstatechange = pc.oniceconnectionstatechange = null;
    pc.close();
  }

  _closePeers() {
    for (const peerId of this.peers.keys()) this._closePeer(peerId);
    this.peers.clear();
  }

  // --- events out ----------------------------------------------------------------------

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    this._emit('state', { state, bookingId: this.bookingId });
  }

  _emitError(code, message, fatal) {
    this._emit('error', { code, message, fatal });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function candidateJSON(candidate) {
  const json = candidate.toJSON();
  const out = { candidate: json.candidate };
  // The server refuses unknown fields; keep exactly the RTCIceCandidateInit ones that are set.
  for (const key of ['sdpMid', 'sdpMLineIndex', 'usernameFragment']) {
    if (json[key] !== undefined && json[key] !== null) out[key] = json[key];
  }
  return out;
}
