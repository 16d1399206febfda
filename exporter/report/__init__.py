"""`mlmon report`: trend charts (PNG) and a one-page HTML summary, from the run history or Prometheus."""
