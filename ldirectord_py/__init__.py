"""ldirectord-py: a drop-in replacement for the Perl ldirectord, with anycast route control."""

__version__ = "0.1.0"

# The version line the Perl original prints; scripts grep for it, so we keep it.
LEGACY_VERSION = "Linux Director v1.186-ha"
