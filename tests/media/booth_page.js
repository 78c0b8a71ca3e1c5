// The media tests' booth: /static/signalling.js plus a frame counter on the remote video.
import { BoothConnection } from '/static/signalling.js';

const remote = document.getElementById('remote');
const local = document.getElementById('local');
const mediaTest = { frames: 0, width: 0, height: 0, streams: 0, events: [], state: null };
window.mediaTest = mediaTest;

function countFrames(_now, metadata) {
  mediaTest.frames += 1;
  mediaTest.width = metadata.width;
  mediaTest.height = metadata.height;
  remote.requestVideoFrameCallback(countFrames);
}
remote.requestVideoFrameCallback(countFrames);

// A call forced through TURN, as `iceTransportPolicy: "relay"` forces the self-test's relay legs:
// the test page wraps the browser's RTCPeerConnection (the kiosk has no such switch).
function forceRelay() {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config = {}) {
      super({ ...config, iceTransportPolicy: 'relay' });
    }
  };
}

window.startBooth = async (deviceKey, options = {}) => {
  const { relayOnly = false, ...connection } = options;
  if (relayOnly) forceRelay();
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: true });
  local.srcObject = stream;
  const booth = new BoothConnection({ deviceKey, localStream: stream, client: 'media-test/1.0', ...connection });
  window.booth = booth;
  for (const type of ['state', 'schedule', 'peer-status', 'countdown', 'closed', 'error']) {
    booth.addEventListener(type, (event) => {
      mediaTest.events.push({ type, detail: event.detail, at: Date.now() });
      if (type === 'state') mediaTest.state = event.detail.state;
    });
  }
  booth.addEventListener('remote-stream', (event) => {
    mediaTest.streams += 1;
    remote.srcObject = event.detail.stream;
    remote.play().catch(() => {});
  });
  booth.connect();
  return booth.state;
};

// What WebRTC itself says about the call, for a failing test's report.
window.callStats = async () => {
  const out = {};
  for (const [peerId, peer] of window.booth.peers) {
    if (!peer.pc) continue;
    const summary = { connection: peer.pc.connectionState, ice: peer.pc.iceConnectionState, signaling: peer.pc.signalingState };
    (await peer.pc.getStats()).forEach((report) => {
      if (report.kind !== 'video') return;
      if (report.type === 'inbound-rtp') {
        summary.in = { packets: report.packetsReceived, lost: report.packetsLost, decoded: report.framesDecoded,
          received: report.framesReceived, dropped: report.framesDropped, plis: report.pliCount, freezes: report.freezeCount, fps: report.framesPerSecond, keyframes: report.keyFramesDecoded };
      } else if (report.type === 'outbound-rtp') {
        summary.out = { packets: report.packetsSent, encoded: report.framesEncoded, sent: report.framesSent,
          limited: report.qualityLimitationReason, plis: report.pliCount, fps: report.framesPerSecond, keyframes: report.keyFramesEncoded };
      }
    });
    out[peerId] = summary;
  }
  return out;
};

// The self-test (static/selftest.js) on this booth's socket; `black` swaps the camera for a
// canvas that paints black frames (a covered lens), keeping the microphone.
import { runSelfTest, startCallStats } from '/static/selftest.js';

// call_stats as the kiosk sends them, every `everyMs` (the kiosk: 10 s).
window.startCallStats = (everyMs) => { startCallStats(window.booth, everyMs); };

window.selfTest = async ({ black = false, trigger = 'manual' } = {}) => {
  let stream = local.srcObject;
  if (black) {
    const canvas = document.createElement('canvas');
    canvas.width = 320;
    canvas.height = 240;
    const paint = canvas.getContext('2d');
    const video = canvas.captureStream(15);
    setInterval(() => { paint.fillStyle = '#000'; paint.fillRect(0, 0, 320, 240); }, 50);
    stream = new MediaStream([...video.getVideoTracks(), ...stream.getAudioTracks()]);
  }
  return runSelfTest(window.booth, { stream, trigger });
};
