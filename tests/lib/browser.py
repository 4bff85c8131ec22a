"""How browser tests start Debian's Chromium: headless, and quiet on a machine with no network."""

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking switches Chromium keeps trying hosts it cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
