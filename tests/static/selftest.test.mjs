// The kiosk's self-test module (static/selftest.js) without a browser: `node --test tests/static/`.
// getStats() figures in the units the protocol wants (seconds become milliseconds), deltas
// kept inside the schema's ranges, and every problem the server can name said in both languages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const st = await import(join(root, 'static', 'selftest.js'));
const { translate } = await import(join(root, 'static', 'i18n.js'));
const { MESSAGES } = await import(join(root, 'static', 'messages.js'));

/** A peer connection whose getStats() answers `stats` (an RTCStatsReport is a map of these). */
const peer = (stats) => ({ getStats: async () => new Map(stats.map((s) => [s.id, s])) });

test('a snapshot reads the selected pair and converts the browser’s seconds to milliseconds', async () => {
  const snap = await st.snapshot(peer([
    { id: 'T', type: 'transport', selectedCandidatePairId: 'P' },
    { id: 'P', type: 'candidate-pair', currentRoundTripTime: 0.095, localCandidateId: 'L' },
    { id: 'L', type: 'local-candidate', candidateType: 'relay', relayProtocol: 'tls' },
    { id: 'V', type: 'inbound-rtp', kind: 'video', bytesReceived: 5000, packetsLost: 3, packetsReceived: 297, jitter: 0.03, framesDecoded: 140 },
    { id: 'A', type: 'inbound-rtp', kind: 'audio', bytesReceived: 1000, packetsLost: -1, packetsReceived: 100, jitter: 0.004 },
    { id: 'O', type: 'outbound-rtp', kind: 'video', bytesSent: 7000, framesEncoded: 150 },
  ]));
  assert.equal(snap.rttMs, 95);
  assert.equal(snap.jitterMs, 4); // the audio's: paced packets show the network's jitter
  assert.deepEqual([snap.lost, snap.received, snap.framesReceived, snap.framesSent], [3, 397, 140, 150]);
  assert.deepEqual([snap.bytesReceived, snap.bytesSent], [6000, 7000]);
  assert.deepEqual([snap.candidateType, snap.relayProtocol], ['relay', 'tls']);
});

test('figures between two snapshots: loss of what came in, kbit/s each way, frames', () => {
  const before = { bytesSent: 0, bytesReceived: 0, lost: 10, received: 1000, framesReceived: 5, framesSent: 5, rttMs: 10, jitterMs: 1 };
  const after = { bytesSent: 1250000, bytesReceived: 500000, lost: 20, received: 1990, framesReceived: 155, framesSent: 155, rttMs: 42.04, jitterMs: 3.456 };
  assert.deepEqual(st.figures(before, after, 10), {
    rtt_ms: 42, jitter_ms: 3.46, loss_percent: 1, bitrate_up_kbps: 1000, bitrate_down_kbps: 400,
    frames_received: 150, frames_sent: 150,
  });
});

test('figures stay inside the message’s ranges whatever the counters do', () => {
  const before = { bytesSent: 9e12, bytesReceived: 9e12, lost: 0, received: 0, framesReceived: 900, framesSent: 900, rttMs: null, jitterMs: null };
  const after = { bytesSent: 0, bytesReceived: 0, lost: 0, received: 0, framesReceived: 0, framesSent: 0, rttMs: 1e9, jitterMs: null };
  const f = st.figures(before, after, 10); // counters reset: a new stream replaced the old one
  assert.deepEqual(f, { rtt_ms: 60000, jitter_ms: 0, loss_percent: 0, bitrate_up_kbps: 0, bitrate_down_kbps: 0, frames_received: 0, frames_sent: 0 });
});

test('what held the video encoder back: the reason it spent the most seconds in during the leg', async () => {
  const outbound = (reason, durations) => peer([
    { id: 'O', type: 'outbound-rtp', kind: 'video', bytesSent: 7000, framesEncoded: 150, qualityLimitationReason: reason, qualityLimitationDurations: durations },
    { id: 'A', type: 'outbound-rtp', kind: 'audio', bytesSent: 900 },
  ]);
  // Before the leg: 20 s unlimited, 20 s short of bandwidth; during it: 1 s, 7 s by the CPU, 2 s.
  const before = await st.snapshot(outbound('bandwidth', { none: 20, cpu: 0, bandwidth: 20, other: 0 }));
  const after = await st.snapshot(outbound('bandwidth', { none: 21, cpu: 7, bandwidth: 22, other: 0 }));
  assert.deepEqual([after.limitation, after.limitationSeconds.cpu], ['bandwidth', 7]);
  // Not the reason at the end, nor the one with the most seconds in all (bandwidth, 22 s).
  assert.equal(st.limitedBy(before, after), 'cpu');
  assert.equal(st.figures(before, after, 10).video_limited_by, 'cpu');
  // No durations: the reason at the end; a reason the protocol does not know is "other".
  assert.equal(st.limitedBy({}, { limitation: 'cpu' }), 'cpu');
  assert.equal(st.limitedBy({}, { limitation: 'thermal' }), 'other');
  assert.equal(st.limitedBy({}, { limitationSeconds: { none: 1, thermal: 9 } }), 'other');
  // A browser that says nothing: the field is left out of the report.
  assert.equal(st.limitedBy({}, {}), undefined);
  assert.ok(!('video_limited_by' in st.figures({ bytesSent: 0 }, { bytesSent: 0 }, 10)));
});

test('the line and each verdict in the booth’s language', () => {
  // the kiosk shows the queue's position counted from 1 (startBoothReadiness)
  assert.equal(translate('en', 'selftest.queued', { n: 1 }), 'Waiting for the connection check (1 before this booth)…');
  assert.equal(translate('fr', 'selftest.queued', { n: 3 }), 'En attente du test de connexion (3 avant cette cabine)…');
  const result = { verdict: 'poor', problems: ['black_video', 'udp_blocked'] };
  assert.deepEqual(st.describeResult(result, 'fr'), {
    headline: 'Cette cabine n’est pas prête pour un appel.',
    lines: ['La caméra envoie une image noire : retirez le cache ou vérifiez l’objectif.', 'UDP bloqué : les appels passeront par le relais.'],
  });
  assert.equal(st.describeResult(result, 'xx').headline, 'This booth is not ready for a call.');
});

test('every problem the server names (webrtc/quality.py) has a sentence in English and French, and only those', () => {
  const source = readFileSync(join(root, 'webrtc', 'quality.py'), 'utf8');
  const block = source.slice(source.indexOf('class Problem('), source.indexOf('@dataclass', source.indexOf('class Problem(')));
  const codes = [...block.matchAll(/^ {4}[A-Z_]+ = "([a-z_]+)"/gm)].map((m) => m[1]);
  assert.ok(codes.length >= 14, `found ${codes.length} problem codes`);
  for (const language of ['en', 'fr']) {
    const { lines } = st.describeResult({ verdict: 'poor', problems: codes }, language);
    lines.forEach((line, i) => assert.notEqual(line, codes[i], `${codes[i]} has no ${language} sentence`));
    for (const verdict of ['good', 'fair', 'poor']) assert.notEqual(st.describeResult({ verdict }, language).headline, `selftest.verdict.${verdict}`);
  }
  // The catalogue's "unused" check counts the whole selftest.problem.* family as used.
  const sentences = Object.keys(MESSAGES.en).filter((k) => k.startsWith('selftest.problem.')).map((k) => k.slice(17));
  assert.deepEqual(sentences.filter((code) => !codes.includes(code)), [], 'sentences for problems the server never names');
});
