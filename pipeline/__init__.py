"""kaznet-monitor: what Almaty residents discuss online and how they feel about the city's government."""

__version__ = "0.1.0"
