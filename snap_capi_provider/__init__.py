"""Apache Airflow provider for Snapchat's Conversions API (CAPI)."""

__version__ = "0.1.0"
