"""Defences of an HTTP/2 connection against floods of cheap frames.

Each defence is a token bucket per connection: a client gets a burst of
the frame kind and then a steady rate; beyond that the connection is closed
with ENHANCE_YOUR_CALM and the reason is counted in metrics.
"""

from __future__ import annotations

# Reasons a connection is closed, as the metric's label.
RAPID_RESET = "rapid_reset"  # CVE-2023-44487: streams opened and reset at once
PING_FLOOD = "ping_flood"
SETTINGS_FLOOD = "settings_flood"
CONTINUATION_FLOOD = "continuation_flood"
HEADER_LIST_TOO_LARGE = "header_list_too_large"
PROTOCOL_ERROR = "protocol_error"

# (burst, per second). Browsers and gRPC send a few SETTINGS and PINGs
# (keep-alive, bandwidth probes) per connection; nothing legitimate comes close.
PING_LIMIT = (100, 20.0)
SETTINGS_LIMIT = (50, 10.0)


class Bucket:
    __slots__ = ("at", "burst", "rate", "tokens")

    def __init__(self, burst: int, rate: float, now: float) -> None:
        self.burst = float(burst)
        self.rate = rate
        self.tokens = float(burst)
        self.at = now

    def take(self, now: float) -> bool:
        """Spend one token; False when the bucket is empty (the peer is flooding)."""
        tokens = self.tokens + (now - self.at) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.at = now
        if tokens < 1.0:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1.0
        return True


def reset_limit(max_concurrent_streams: int) -> tuple[int, float]:
    """Streams a client may cancel: twice its stream limit at once, then the limit per second.

    Cancelling a stream is normal (a browser navigating away), cancelling
    thousands a second while opening new ones is the rapid-reset attack.
    """
    return 2 * max_concurrent_streams, float(max_concurrent_streams)
