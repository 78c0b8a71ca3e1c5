// The booth's media self-test and in-call quality reports (docs/selftest.md, protocol section 13).
//
// runSelfTest() sends the camera and microphone to the server's echo peer, leg after leg
// (relay-only through each TURN transport, then direct), measures with getStats() and returns
// the server's verdict. startCallStats() sends a getStats() summary every 10 s during a call.

import { translate } from './i18n.js';

const GATHER_WITHIN_MS = 5000;
export const CALL_STATS_EVERY_MS = 10000;
/** The self-test's picture: modest, so the echo stays cheap (bench/bench_echo.py). */
const TEST_VIDEO = { width: 320, height: 240, frameRate: 15 };

/** The verdict and each problem as sentences in the booth's language (static/messages.js). */
export function describeResult(result, language = 'en') {
  const t = (key, vars = {}, fallback = undefined) => translate(language, key, vars, fallback);
  return { headline: t(`selftest.verdict.${result.verdict}`), lines: (result.problems || []).map((code) => t(`selftest.problem.${code}`, {}, code)) };
}

function waitFor(conn, predicate, timeoutMs, failCodes = []) {
  return new Promise((resolve, reject) => {
    const onMessage = (event) => {
      if (predicate(event.detail)) { done(); resolve(event.detail); }
    };
    const onError = (event) => {
      if (failCodes.includes(event.detail.code)) { done(); reject(Object.assign(new Error(event.detail.message), { code: event.detail.code })); }
    };
    const timer = setTimeout(() => { done(); reject(Object.assign(new Error('timed out'), { code: 'timeout' })); }, timeoutMs);
    function done() {
      clearTimeout(timer);
      conn.removeEventListener('message', onMessage);
      conn.removeEventListener('error', onError);
    }
    conn.addEventListener('message', onMessage);
    conn.addEventListener('error', onError);
  });
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function gathered(pc, withinMs) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, withinMs);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
    });
  });
}

function connected(pc, withinMs) {
  if (pc.connectionState === 'connected') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), withinMs);
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected') { clearTimeout(timer); resolve(true); }
      if (pc.connectionState === 'failed') { clearTimeout(timer); resolve(false); }
    });
  });
}

/** Figures of one peer connection from getStats(): round trip, candidate types, inbound loss
 * and jitter (browser units: seconds, converted to ms), byte and frame counters. */
export async function snapshot(pc) {
  const report = await pc.getStats();
  const out = { bytesSent: 0, bytesReceived: 0, lost: 0, received: 0, framesReceived: 0, framesSent: 0, jitterMs: null, rttMs: null, candidateType: null, relayProtocol: null };
  let pairId = null;
  report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
  report.forEach((s) => {
    if (!pairId && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pairId = s.id;
  });
  const pair = pairId ? report.get(pairId) : null;
  if (pair) {
    if (typeof pair.currentRoundTripTime === 'number') out.rttMs = pair.currentRoundTripTime * 1000;
    const local = report.get(pair.localCandidateId);
    if (local) {
      out.candidateType = local.candidateType;
      if (local.candidateType === 'relay' && local.relayProtocol) out.relayProtocol = local.relayProtocol;
    }
  }
  report.forEach((s) => {
    if (s.type === 'inbound-rtp') {
      out.bytesReceived += s.bytesReceived || 0;
      out.lost += Math.max(s.packetsLost || 0, 0);
      out.received += s.packetsReceived || 0;
      // Jitter of the audio: its packets are paced every 20 ms, where video comes in bursts of a
      // frame's packets (and the echo re-encodes when it can), so audio shows the network's.
      if (typeof s.jitter === 'number' && (s.kind === 'audio' || out.jitterMs === null)) out.jitterMs = s.jitter * 1000;
      if (s.kind === 'video') out.framesReceived += s.framesDecoded || 0;
    } else if (s.type === 'outbound-rtp') {
      out.bytesSent += s.bytesSent || 0;
      if (s.kind === 'video') {
        out.framesSent += s.framesEncoded || s.framesSent || 0;
        // What held the video encoder back (WebRTC stats: none, cpu, bandwidth, other): a
        // bitrate held back by a busy computer is not the network's fault (docs/selftest.md).
        if (typeof s.qualityLimitationReason === 'string') out.limitation = s.qualityLimitationReason;
        if (s.qualityLimitationDurations) out.limitationSeconds = { ...s.qualityLimitationDurations };
      }
    }
  });
  return out;
}

const LIMITATIONS = ['none', 'cpu', 'bandwidth'];

/** What held the video encoder back for the longest between two snapshots (seconds spent in
 * each reason, qualityLimitationDurations), else its reason at the end; undefined when the
 * browser says neither. A reason the protocol does not know is `other`. */
export function limitedBy(before, after) {
  let reason = after.limitation;
  if (after.limitationSeconds) {
    let longest = 0;
    for (const [name, total] of Object.entries(after.limitationSeconds)) {
      const spent = total - ((before.limitationSeconds || {})[name] || 0);
      if (spent > longest) { longest = spent; reason = name; }
    }
  }
  if (typeof reason !== 'string') return undefined;
  return LIMITATIONS.includes(reason) ? reason : 'other';
}

const round = (value, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

/** The wire figures between two snapshots taken `seconds` apart (ranges of protocol section 13). */
export function figures(before, after, seconds) {
  const lost = after.lost - before.lost;
  const received = after.received - before.received;
  const limited = limitedBy(before, after);
  return {
    rtt_ms: round(clamp(after.rttMs ?? 0, 0, 60000)),
    jitter_ms: round(clamp(after.jitterMs ?? 0, 0, 10000), 2),
    loss_percent: round(lost + received > 0 ? clamp((100 * lost) / (lost + received), 0, 100) : 0, 2),
    bitrate_up_kbps: round(clamp(((after.bytesSent - before.bytesSent) * 8) / 1000 / seconds, 0, 1e6)),
    bitrate_down_kbps: round(clamp(((after.bytesReceived - before.bytesReceived) * 8) / 1000 / seconds, 0, 1e6)),
    frames_received: clamp(after.framesReceived - before.framesReceived, 0, 100000),
    frames_sent: clamp(after.framesSent - before.framesSent, 0, 100000),
    ...(limited ? { video_limited_by: limited } : {}),
  };
}

async function runLeg(conn, testId, leg, stream, seconds, probeSeconds) {
  const out = { leg: leg.leg, connected: false };
  const pc = new RTCPeerConnection({ iceServers: leg.ice_servers, iceTransportPolicy: leg.relay_only ? 'relay' : 'all' });
  try {
    if (stream) for (const track of stream.getTracks()) pc.addTrack(track, stream);
    else { pc.addTransceiver('video', { direction: 'recvonly' }); pc.addTransceiver('audio', { direction: 'recvonly' }); }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, GATHER_WITHIN_MS);
    const sdp = pc.localDescription.sdp;
    if (leg.relay_only && !/ typ relay/.test(sdp)) {
      out.error = 'no relay candidate: the TURN server did not answer';
      return out;
    }
    const answer = waitFor(conn, (m) => m.type === 'selftest_answer' && m.test_id === testId && m.leg === leg.leg, 20000, ['selftest_unavailable', 'unknown_test']);
    conn.send({ type: 'selftest_offer', test_id: testId, leg: leg.leg, sdp });
    await pc.setRemoteDescription({ type: 'answer', sdp: (await answer).sdp });
    if (!(await connected(pc, probeSeconds * 1000))) {
      out.error = `connection ${pc.connectionState}`;
      return out;
    }
    out.connected = true;
    const before = await snapshot(pc);
    await sleep(seconds * 1000);
    const after = await snapshot(pc);
    Object.assign(out, figures(before, after, seconds));
    if (after.candidateType) out.candidate_type = after.candidateType;
    if (after.relayProtocol) out.relay_protocol = after.relayProtocol;
    return out;
  } catch (err) {
    out.error = String(err.message || err).slice(0, 200);
    return out;
  } finally {
    pc.close();
  }
}

/** A copy of the camera and microphone at the test's modest size; null parts when missing. */
async function testStream(source) {
  const tracks = [];
  for (const track of source ? source.getTracks() : []) {
    const copy = track.clone();
    if (copy.kind === 'video') await copy.applyConstraints(TEST_VIDEO).catch(() => {});
    tracks.push(copy);
  }
  return tracks.length ? new MediaStream(tracks) : null;
}

/**
 * Run one self-test over `conn` (a welcomed BoothConnection) with the booth's `stream`.
 * `onProgress({state: 'queued'|'testing', position})` hears the line. Resolves with the
 * server's selftest_result; rejects with an error whose `code` is the server's.
 */
export async function runSelfTest(conn, { stream, trigger = 'manual', bookingId = null, onProgress = () => {} } = {}) {
  const id = `selftest-${Date.now()}`;
  const ready = waitFor(conn, (m) => m.type === 'selftest_ready', 300000, ['selftest_unavailable', 'unexpected_message']);
  const onQueued = (event) => {
    if (event.detail.type === 'selftest_queued') onProgress({ state: 'queued', position: event.detail.position });
  };
  conn.addEventListener('message', onQueued);
  const start = { type: 'selftest_start', id, trigger };
  if (bookingId) start.booking_id = bookingId;
  if (!conn.send(start)) throw Object.assign(new Error('not connected'), { code: 'offline' });
  let plan;
  try { plan = await ready; } finally { conn.removeEventListener('message', onQueued); }
  onProgress({ state: 'testing' });
  const media = await testStream(stream);
  const hasVideo = Boolean(media && media.getVideoTracks().length);
  const hasAudio = Boolean(media && media.getAudioTracks().length);
  const legs = [];
  let mediaDone = false;
  try {
    for (const leg of plan.legs) {
      const seconds = mediaDone ? Math.min(1, plan.probe_seconds) : plan.media_seconds;
      const result = await runLeg(conn, plan.test_id, leg, media, seconds, plan.probe_seconds);
      if (result.connected && !mediaDone) { result.media = true; mediaDone = true; }
      else if (result.connected) {
        for (const key of Object.keys(result)) if (!['leg', 'connected', 'candidate_type', 'relay_protocol'].includes(key)) delete result[key];
      }
      legs.push(result);
    }
  } finally {
    if (media) for (const track of media.getTracks()) track.stop();
  }
  const result = waitFor(conn, (m) => m.type === 'selftest_result' && m.test_id === plan.test_id, 30000, ['unknown_test']);
  conn.send({ type: 'selftest_report', test_id: plan.test_id, camera: hasVideo, microphone: hasAudio, legs });
  return result;
}

/** Every 10 s of a call, a getStats() summary of the first peer connection (call_stats). */
export function startCallStats(conn, everyMs = CALL_STATS_EVERY_MS) {
  let last = null;
  const timer = setInterval(async () => {
    const peer = conn.peers && [...conn.peers.values()].find((p) => p.pc && p.pc.connectionState === 'connected');
    if (!peer || !conn.bookingId) { last = null; return; }
    const now = await snapshot(peer.pc);
    if (last && last.pc === peer.pc) {
      const f = figures(last.figures, now, everyMs / 1000);
      conn.send({
        type: 'call_stats',
        booking_id: conn.bookingId,
        rtt_ms: f.rtt_ms,
        jitter_ms: f.jitter_ms,
        loss_percent: f.loss_percent,
        bitrate_out_kbps: f.bitrate_up_kbps,
        bitrate_in_kbps: f.bitrate_down_kbps,
        frames_received: f.frames_received,
        relayed: now.candidateType === 'relay',
      });
    }
    last = { pc: peer.pc, figures: now };
  }, everyMs);
  return () => clearInterval(timer);
}

/** Seconds before a session's room opens during which the kiosk does not start a test. */
const QUIET_BEFORE_JOIN_MS = 60000;

function joinOpensSoon(conn) {
  const now = conn.serverNow ? conn.serverNow().getTime() : Date.now();
  const bookings = (conn.schedule && conn.schedule.bookings) || [];
  return bookings.some((b) => Date.parse(b.join_opens_at) - now < QUIET_BEFORE_JOIN_MS && Date.parse(b.end) > now);
}

/**
 * The kiosk's readiness checks on `conn`: a test when the kiosk starts (unless a session's
 * room opens within a minute), one whenever the server asks (opening, 10 minutes before a
 * session, staff), the result shown in a banner in the booth's language, and call_stats
 * during calls. `getStream()` gives the booth's camera and microphone.
 */
export function startBoothReadiness(conn, getStream, { language = () => 'en', onResult = () => {} } = {}) {
  const banner = document.createElement('aside');
  banner.id = 'selftest-banner';
  banner.className = 'selftest-banner';
  banner.setAttribute('role', 'status');
  banner.hidden = true;
  document.body.append(banner);
  let running = false;
  let startedOnce = false;
  const t = (key, vars = {}) => translate(language(), key, vars);

  const show = (headline, lines = [], verdict = '') => {
    banner.replaceChildren();
    banner.dataset.verdict = verdict;
    const title = document.createElement('strong');
    title.textContent = headline;
    banner.append(title);
    for (const line of lines) {
      const item = document.createElement('p');
      item.textContent = line;
      banner.append(item);
    }
    banner.hidden = false;
  };

  async function test(trigger, bookingId = null) {
    if (running || conn.bookingId) return null;
    running = true;
    try {
      show(t('selftest.testing'));
      const result = await runSelfTest(conn, {
        stream: getStream(),
        trigger,
        bookingId,
        onProgress: (p) => show(p.state === 'queued' ? t('selftest.queued', { n: p.position + 1 }) : t('selftest.testing')),
      });
      const words = describeResult(result, language());
      show(words.headline, words.lines, result.verdict);
      if (result.verdict === 'good') setTimeout(() => { if (banner.dataset.verdict === 'good') banner.hidden = true; }, 15000);
      onResult(result);
      return result;
    } catch (err) {
      // The kiosk's own start-up test stays quiet when the server has none to offer; a test
      // the server or staff asked for says that it could not run.
      if (trigger === 'kiosk_start') banner.hidden = true;
      else {
        show(t('selftest.unavailable'), [], 'error');
        setTimeout(() => { if (banner.dataset.verdict === 'error') banner.hidden = true; }, 10000);
      }
      return null;
    } finally {
      running = false;
    }
  }

  conn.addEventListener('message', (event) => {
    const msg = event.detail;
    if (msg.type === 'selftest_request') test(msg.trigger, msg.booking_id || null);
  });
  conn.addEventListener('state', (event) => {
    if (event.detail.state === 'idle' && !startedOnce) {
      startedOnce = true;
      if (!joinOpensSoon(conn)) setTimeout(() => test('kiosk_start'), 500);
    }
    if (event.detail.state !== 'idle' && banner.dataset.verdict === 'good') banner.hidden = true;
  });
  const stopStats = startCallStats(conn);
  return { test, stop: () => { stopStats(); banner.remove(); } };
}
