"""Fake remote services that tests start on 127.0.0.1; the real SDKs are pointed at them (DESIGN §5)."""
