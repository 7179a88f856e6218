"""kaznet-monitor: what Almaty residents discuss online, and how they feel about the city."""

__version__ = "0.1.0"
