"""Every timing and size of signalling protocol version 1, in one place.

``docs/protocol.md`` quotes these numbers; ``tests/webrtc`` checks that the two agree.
Durations the room state machine uses are ``timedelta`` (it works on UTC ``datetime``);
connection-level ones are float seconds, since the I/O layer measures them with the event
loop's monotonic clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

PROTOCOL_VERSION: Final = 1
SUPPORTED_VERSIONS: Final = frozenset({1})

# Room (booking) timings.
JOIN_OPENS_BEFORE_START: Final = timedelta(minutes=5)
COUNTDOWN_MARKS: Final = (timedelta(minutes=5), timedelta(minutes=1))  # before the end
RESUME_GRACE: Final = timedelta(seconds=30)
HISTORY_LIMIT: Final = 256  # sent messages kept per booth for replay on resume
#: After the signalling state may have lost its newest entries (a crash of the one embedded
#: process, or a shared store that restarted empty), room messages number on from the new
#: epoch times this: far above any seq of an earlier epoch, so seq never goes backwards.
SEQ_EPOCH_SPAN: Final = 10**9

# Connection timings, in seconds.
HEARTBEAT_INTERVAL: Final = 20.0  # server pings this often
IDLE_TIMEOUT: Final = 45.0  # nothing received for this long: the socket is dropped
AUTH_TIMEOUT: Final = 10.0  # no valid hello within this long: closed with auth_timeout
SHUTDOWN_RETRY_AFTER: Final = 5  # seconds a booth waits (plus jitter) after server_going_away
GOING_AWAY_JITTER: Final = 5.0  # ... plus a random 0 to this many seconds, so a fleet spreads out

# Client reconnection (the kiosk in static/signalling.js and the headless agent), in seconds.
BACKOFF_FIRST: Final = 1.0  # first wait after a failed connection, doubled after each failure ...
BACKOFF_MAX: Final = 30.0  # ... up to this; each wait is drawn from half to all of it
TOO_EARLY_RETRY: Final = 5.0  # a join answered too_early is tried again after this long
ICE_RESTART_AFTER: Final = 4.0  # ICE disconnected this long: the kiosk asks for an ICE restart

# Sizes and rates.
MAX_MESSAGE_BYTES: Final = 64 * 1024  # larger frames are closed with 1009
MESSAGE_RATE: Final = 50.0  # messages per second, sustained
MESSAGE_BURST: Final = 100
RATE_STRIKES: Final = 10  # rejected messages tolerated before the close with 1008 ...
RATE_STRIKES_FORGIVEN_PER_SECOND: Final = 1.0  # ... a slowly refilling allowance

# Credentials.
SESSION_TOKEN_TTL: Final = timedelta(hours=1)
TURN_CREDENTIAL_MARGIN: Final = timedelta(minutes=15)  # TURN stays valid this long after the slot
IDLE_TURN_VALIDITY: Final = timedelta(hours=1)  # welcome's credentials, outside any booking

# Presence.
SCHEDULE_HORIZON: Final = timedelta(hours=24)
