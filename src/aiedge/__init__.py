"""aiedge: take trained ML models to near-edge sites and keep them serving, managed from one core."""

__version__ = "0.1.0"
