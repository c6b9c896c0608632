"""What Settle tells its operators about itself: Prometheus metrics, defined in one place
(`metrics`), counted where things happen, and served on an internal port by the Settle
service (docs/observability.md). Uses nothing of Settle, so every layer may count."""
